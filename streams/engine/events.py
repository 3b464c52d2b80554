"""The events an engine emits, and the words they use.

Every event carries ``seq``, the market's event counter: +1 per event,
never reused, so a consumer can detect gaps and duplicates. A trade's id
is its ``seq``.

Events are slotted dataclasses: the cheapest records to build in CPython
(cheaper than named tuples), compared field by field and by class, and
serialised by orjson as they are. Treat them as immutable; freezing them
would double their cost on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

# Done.status
FILLED = "filled"
CANCELED = "canceled"
EXPIRED = "expired"

# Done.reason, when the order did not fill
USER = "user"  # canceled by its owner
SELF_TRADE = "self_trade"  # met its own account's order (see Place.stp)
IOC_REMAINDER = "ioc"  # the unfilled part of an IOC limit order
MARKET_REMAINDER = "market"  # the book ran out under a market order
QUOTE_LIMIT = "quote_limit"  # a market buy's funds ran out before its qty
FOK_UNFILLED = "fok"  # a fill-or-kill order could not fill completely

# Rejected.reason
UNKNOWN_COMMAND = "unknown_command"
UNKNOWN_MARKET = "unknown_market"
UNKNOWN_ORDER = "unknown_order"
DUPLICATE_ORDER_ID = "duplicate_order_id"
POST_ONLY_WOULD_TRADE = "post_only_would_trade"
INVALID_ORDER_ID = "invalid_order_id"
INVALID_ACCOUNT = "invalid_account"
INVALID_SIDE = "invalid_side"
INVALID_TYPE = "invalid_type"
INVALID_TIME_IN_FORCE = "invalid_time_in_force"
INVALID_PRICE = "invalid_price"
INVALID_QTY = "invalid_qty"
INVALID_QUOTE_LIMIT = "invalid_quote_limit"
INVALID_POST_ONLY = "invalid_post_only"
INVALID_STP = "invalid_stp"
INVALID_TIMESTAMP = "invalid_timestamp"


@dataclass(slots=True)
class Accepted:
    seq: int
    order_id: int
    account: Hashable
    side: str
    type: str
    tif: str
    price: int | None
    qty: int | None
    quote_limit: int | None
    ts: int


@dataclass(slots=True)
class Rejected:
    """A place or cancel that changed nothing; ``order_id`` is the one targeted."""

    seq: int
    order_id: int | None
    account: Hashable
    reason: str
    ts: int | None  # None for a command of unknown kind, or one without a ts


@dataclass(slots=True)
class Trade:
    """A fill at the maker's price; ``quote`` excludes fees, which are extra."""

    seq: int
    price: int
    qty: int
    quote: int
    maker_order_id: int
    maker_account: Hashable
    taker_order_id: int
    taker_account: Hashable
    taker_side: str
    maker_fee: int
    taker_fee: int
    ts: int


@dataclass(slots=True)
class Done:
    """An order's last event. ``remaining_qty`` is None for a buy sized by funds alone."""

    seq: int
    order_id: int
    account: Hashable
    status: str
    filled_qty: int
    filled_quote: int
    remaining_qty: int | None
    reason: str | None
    ts: int


@dataclass(slots=True)
class LevelChanged:
    """The total resting quantity at a price after a command; 0 means the level is gone."""

    seq: int
    side: str
    price: int
    qty: int


Event = Accepted | Rejected | Trade | Done | LevelChanged
