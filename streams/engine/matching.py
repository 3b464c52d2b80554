"""Which resting orders a taker would meet, worked out before anything changes.

Matching is planned first and applied second. The plan is a read-only walk
of the opposite side in priority order, so a fill-or-kill order can be
tested against exactly the liquidity it would take, and rejected with the
book untouched, by the same code that matches every other order.
"""

from __future__ import annotations

from typing import Hashable, NamedTuple

from .book import BookSide, Order
from .commands import EXPIRE_BOTH, EXPIRE_MAKER
from .fees import affordable_qty, fee

# Why a walk stopped.
COMPLETE = "complete"  # the taker got all it asked for
NO_LIQUIDITY = "no_liquidity"  # nothing more to take within its limit price
NO_FUNDS = "no_funds"  # its quote_limit cannot pay for one more step
SELF_TRADE_STOP = "self_trade_stop"  # it met its own order and STP stops it


class Plan(NamedTuple):
    # (maker, qty) in the order they happen; qty None expires the maker
    # (self-trade prevention) instead of trading with it.
    steps: list[tuple[Order, int | None]]
    outcome: str


def plan(
    book: BookSide,
    account: Hashable,
    stp: str,
    limit_key: int | None,
    qty: int | None,
    funds: int | None,
    quote_per_tick_step: int,
    taker_fee_ppm: int,
) -> Plan:
    """Walk ``book`` for a taker wanting ``qty`` steps and/or spending ``funds``.

    ``qty`` None means the taker is a buy sized by ``funds`` alone; every
    step costs at least ``quote_per_tick_step``, which bounds what it can buy.
    """
    steps: list[tuple[Order, int | None]] = []
    # place_error has checked that an order without a quantity has funds.
    wanted = qty if qty is not None else funds // quote_per_tick_step  # type: ignore[operator]
    if not wanted:
        return Plan(steps, NO_FUNDS)
    for level in book.levels_within(limit_key):
        step_cost = level.price * quote_per_tick_step
        for maker in level.orders:
            available = maker.remaining
            if not available:
                continue  # canceled, awaiting removal
            if maker.account == account:
                if stp == EXPIRE_MAKER:
                    steps.append((maker, None))
                    continue
                if stp == EXPIRE_BOTH:
                    steps.append((maker, None))
                return Plan(steps, SELF_TRADE_STOP)
            fill = available if available < wanted else wanted
            if funds is not None:
                affordable = affordable_qty(funds, step_cost, taker_fee_ppm)
                if affordable < fill:
                    # The funds run out at this price, so at any later one too.
                    if affordable:
                        steps.append((maker, affordable))
                    bought = any(step_qty for _, step_qty in steps)
                    # A buy sized by funds alone is filled once they run out.
                    return Plan(steps, COMPLETE if qty is None and bought else NO_FUNDS)
                quote = fill * step_cost
                funds -= quote + fee(quote, taker_fee_ppm)
            steps.append((maker, fill))
            wanted -= fill
            if not wanted:
                return Plan(steps, COMPLETE)
    return Plan(steps, NO_LIQUIDITY)
