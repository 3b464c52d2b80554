"""Plain rows describing an engine's state, for a key-value store to keep.

One row per resting order, keyed by order id, plus one small market row.
They hold only plain values so any serialiser can store them; an engine
restored from them behaves exactly as if it had never stopped.
"""

from __future__ import annotations

from typing import Hashable, NamedTuple

from .book import Order


class OrderRow(NamedTuple):
    order_id: int
    account: Hashable
    side: str
    price: int
    qty: int
    remaining: int
    filled_qty: int
    filled_quote: int
    ts: int
    # Arrival order (the seq of the order's Accepted event): restoring in
    # rank order rebuilds time priority within each level.
    rank: int


class MarketState(NamedTuple):
    symbol: str
    seq: int  # the last seq emitted; the next event gets seq + 1


def order_row(order: Order) -> OrderRow:
    return OrderRow(
        order.order_id,
        order.account,
        order.side,
        order.price,
        order.qty,
        order.remaining,
        order.qty - order.remaining,
        order.filled_quote,
        order.ts,
        order.rank,
    )
