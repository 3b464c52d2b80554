"""Fee arithmetic, exact and rounded in the exchange's favour."""

from __future__ import annotations

PPM = 1_000_000


def fee(quote: int, rate_ppm: int) -> int:
    """The fee on a fill worth ``quote`` atoms: ``ceil(quote * rate / 1e6)``."""
    return -(-quote * rate_ppm // PPM)


def affordable_qty(funds: int, step_cost: int, rate_ppm: int) -> int:
    """The most steps costing ``step_cost`` each that ``funds`` pay for, fee included.

    ``q * c + ceil(q * c * r / M) <= F`` holds exactly when
    ``q * c * r / M <= F - q * c`` (the right side is an integer), that is
    when ``q <= M * F / (c * (M + r))``; so one floor division answers it
    without searching.
    """
    return PPM * funds // (step_cost * (PPM + rate_ppm))
