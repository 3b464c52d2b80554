"""The matching engine: pure, deterministic, integer-only.

An ``Engine`` holds one market's book and turns commands (``Place``,
``Cancel``, ``CancelAll``) into events (``Accepted``, ``Rejected``,
``Trade``, ``Done``, ``LevelChanged``); a ``Matcher`` routes commands to
one engine per market. Nothing here does I/O or reads a clock: time comes
in each command's ``ts``. See engine.py for the exact order of events.
"""

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
    Cancel,
    CancelAll,
    Command,
    Place,
)
from .engine import Engine
from .events import Accepted, Done, Event, LevelChanged, Rejected, Trade
from .matcher import NO_MARKET_SEQ, Matcher
from .snapshot import MarketState, OrderRow
from .spec import MarketSpec

__all__ = [
    "BUY",
    "EXPIRE_BOTH",
    "EXPIRE_MAKER",
    "EXPIRE_TAKER",
    "FOK",
    "GTC",
    "IOC",
    "LIMIT",
    "MARKET",
    "SELL",
    "Accepted",
    "Cancel",
    "CancelAll",
    "Command",
    "Done",
    "Engine",
    "Event",
    "LevelChanged",
    "MarketSpec",
    "MarketState",
    "Matcher",
    "NO_MARKET_SEQ",
    "OrderRow",
    "Place",
    "Rejected",
    "Trade",
]
