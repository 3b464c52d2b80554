"""The commands an engine consumes, and the constants they are spelled with.

Constants are plain strings rather than enums: commands arrive as decoded
JSON, so a string compares equal without a conversion step, and events
carry them back out ready to serialise.
"""

from __future__ import annotations

from typing import Any, Hashable, NamedTuple

BUY = "buy"
SELL = "sell"

LIMIT = "limit"
MARKET = "market"

GTC = "GTC"  # rests until filled or canceled
IOC = "IOC"  # takes what it can at once, the rest expires
FOK = "FOK"  # fills completely at once or not at all

# Self-trade prevention: what happens when a taker meets its own account's
# resting order.
EXPIRE_TAKER = "expire_taker"  # the taker's remainder expires
EXPIRE_MAKER = "expire_maker"  # the resting order expires, matching goes on
EXPIRE_BOTH = "expire_both"  # both expire


class Place(NamedTuple):
    """Place an order. ``price`` is in ticks, ``qty`` in steps, ``ts`` in ms.

    A market buy may be sized by ``quote_limit`` (quote atoms, taker fees
    included) instead of, or as well as, by ``qty``.
    """

    order_id: int
    account: Hashable
    side: str
    type: str
    tif: str
    price: int | None
    qty: int | None
    ts: int
    post_only: bool = False
    quote_limit: int | None = None
    stp: str = EXPIRE_TAKER
    market: Any = None


class Cancel(NamedTuple):
    """Cancel one resting order of ``account``."""

    order_id: int
    account: Hashable
    ts: int
    market: Any = None


class CancelAll(NamedTuple):
    """Cancel every resting order of ``account`` in the market."""

    account: Hashable
    ts: int
    market: Any = None


Command = Place | Cancel | CancelAll
