"""The multi-market front: routes each command to its market's engine."""

from __future__ import annotations

from typing import Iterable

from .commands import Command
from .engine import Engine
from .events import UNKNOWN_MARKET, Event, Rejected
from .spec import MarketSpec

# The seq of a rejection by no market. Every market counts from 1, so 0 is
# never a real market event's seq; consumers must not treat it as a gap.
NO_MARKET_SEQ = 0


class Matcher:
    """One engine per market symbol; commands name their market in ``market``."""

    def __init__(self, specs: Iterable[MarketSpec]) -> None:
        self.engines: dict[str, Engine] = {}
        for spec in specs:
            if spec.symbol in self.engines:
                raise ValueError(f"market {spec.symbol!r} given twice")
            self.engines[spec.symbol] = Engine(spec)

    def handle(self, command: Command) -> list[Event]:
        market = getattr(command, "market", None)
        engine = self.engines.get(market) if type(market) is str else None
        if engine is None:
            return [
                Rejected(
                    NO_MARKET_SEQ,
                    getattr(command, "order_id", None),
                    getattr(command, "account", None),
                    UNKNOWN_MARKET,
                    getattr(command, "ts", None),
                )
            ]
        return engine.handle(command)
