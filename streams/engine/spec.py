"""The static description of a market: its units, fee rates and bounds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MarketSpec:
    """A market's units, fees and bounds; everything is an integer.

    Prices are counted in ticks and quantities in steps, so a fill of
    ``qty`` steps at ``price`` ticks is worth exactly
    ``price * qty * quote_per_tick_step`` quote atoms. Fee rates are in
    parts per million so that fees stay exact integers too.
    """

    symbol: str
    quote_per_tick_step: int = 1
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 0
    min_qty: int = 1
    max_price: int | None = None

    def __post_init__(self) -> None:
        # A bad spec is a configuration error found at start-up, unlike a
        # bad command, so it is allowed to raise.
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ValueError("symbol must be a non-empty string")
        for name in ("quote_per_tick_step", "maker_fee_ppm", "taker_fee_ppm", "min_qty"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be a non-negative int")
        if self.quote_per_tick_step < 1 or self.min_qty < 1:
            raise ValueError("quote_per_tick_step and min_qty must be at least 1")
        if self.max_price is not None and (type(self.max_price) is not int or self.max_price < 1):
            raise ValueError("max_price must be a positive int or None")
