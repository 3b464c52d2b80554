"""Checks that a command is well formed before it may touch the book.

A stream must never stop on bad input, so these functions never raise:
they name what is wrong, and the engine turns the name into a Rejected
event. Fields are checked in declaration order, so the first faulty field
gives the reason.
"""

from __future__ import annotations

from .commands import (
    BUY,
    EXPIRE_BOTH,
    EXPIRE_MAKER,
    EXPIRE_TAKER,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    Place,
)
from .events import (
    INVALID_ACCOUNT,
    INVALID_ORDER_ID,
    INVALID_POST_ONLY,
    INVALID_PRICE,
    INVALID_QTY,
    INVALID_QUOTE_LIMIT,
    INVALID_SIDE,
    INVALID_STP,
    INVALID_TIME_IN_FORCE,
    INVALID_TIMESTAMP,
    INVALID_TYPE,
)
from .spec import MarketSpec


def place_error(spec: MarketSpec, place: Place) -> str | None:
    """Why ``place`` is malformed for ``spec``, or None if it is well formed."""
    order_id, account, side, type_, tif, price, qty, ts, post_only, quote_limit, stp, _ = place
    # `type(x) is int` rather than isinstance: bools are ints to Python but
    # not quantities to an exchange.
    if type(order_id) is not int:
        return INVALID_ORDER_ID
    if not is_account(account):
        return INVALID_ACCOUNT
    if side != BUY and side != SELL:
        return INVALID_SIDE
    if type_ != LIMIT and type_ != MARKET:
        return INVALID_TYPE
    market = type_ == MARKET
    if tif != IOC and tif != FOK and (tif != GTC or market):
        return INVALID_TIME_IN_FORCE
    if market:
        if price is not None:
            return INVALID_PRICE
    elif (
        type(price) is not int
        or price < 1
        or (spec.max_price is not None and price > spec.max_price)
    ):
        return INVALID_PRICE
    if qty is None:
        # Only a market buy may be sized by its funds alone.
        if not market or side != BUY or quote_limit is None:
            return INVALID_QTY
    elif type(qty) is not int or qty < spec.min_qty:
        return INVALID_QTY
    if quote_limit is not None and (
        not market or side != BUY or type(quote_limit) is not int or quote_limit < 1
    ):
        return INVALID_QUOTE_LIMIT
    if post_only is not False and (post_only is not True or market or tif != GTC):
        return INVALID_POST_ONLY
    if stp != EXPIRE_TAKER and stp != EXPIRE_MAKER and stp != EXPIRE_BOTH:
        return INVALID_STP
    if not is_timestamp(ts):
        return INVALID_TIMESTAMP
    return None


def is_account(account: object) -> bool:
    """Accounts are opaque, but they key dictionaries downstream, so must hash."""
    if account is None:
        return False
    try:
        hash(account)
    except TypeError:
        return False
    return True


def is_timestamp(ts: object) -> bool:
    return type(ts) is int and ts >= 0
