"""Candles and the rolling 24 h ticker of a market, from its trades. Pure: no Faust, no I/O.

Everything is derived from one-minute bars. Every candle interval (1m … 1d) is a whole number
of minutes aligned to UTC, and the longest, a day, starts at most 1,439 minutes before any
moment inside it; so the bars of the last 1,440 minutes give every open candle and the ticker,
and older bars can be dropped. Prices are ticks, volumes quantity steps and quote atoms, as on
the trades.

The ticker's window is the 1,440 minutes ending with the minute of the market's latest trade
(a rolling day at minute resolution). It moves when trades happen, not with the clock.

A bar remembers the last trade id it counts: trades of a market arrive in id order, so a trade
whose id is not above its bar's was counted already (a replay after a crash) and is skipped.
"""

from __future__ import annotations

from typing import Mapping

from schemas.records import Trade, TradeBatch
from schemas.topics import CANDLES, TICKERS

from .outputs import OUTPUTS_FIRST, Decided, Outgoing

MINUTE_MS = 60_000
DAY_MINUTES = 1440
INTERVALS = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}  # minutes


def new_bar(market: str, minute: int) -> dict:
    return {"market": market, "minute": minute, "open": 0, "high": 0, "low": 0, "close": 0, "volume": 0,
            "quote_volume": 0, "taker_buy_volume": 0, "taker_buy_quote_volume": 0, "trade_count": 0,
            "first_trade_id": 0, "last_trade_id": 0}


def add_trade(bar: dict, trade: Trade) -> bool:
    """Count a trade into its minute's bar; False if the bar has it already."""
    if trade["trade_id"] <= bar["last_trade_id"]:
        return False
    price = trade["price"]
    if bar["trade_count"] == 0:
        bar["open"] = bar["high"] = bar["low"] = price
        bar["first_trade_id"] = trade["trade_id"]
    else:
        bar["high"] = max(bar["high"], price)
        bar["low"] = min(bar["low"], price)
    bar["close"] = price
    bar["volume"] += trade["quantity"]
    bar["quote_volume"] += trade["quote"]
    if trade["taker_side"] == "buy":
        bar["taker_buy_volume"] += trade["quantity"]
        bar["taker_buy_quote_volume"] += trade["quote"]
    bar["trade_count"] += 1
    bar["last_trade_id"] = trade["trade_id"]
    return True


def merge(bars: list[dict]) -> dict | None:
    """One bar covering `bars` (in minute order); None if none has a trade."""
    bars = [bar for bar in bars if bar["trade_count"]]
    if not bars:
        return None
    return {"open": bars[0]["open"], "high": max(b["high"] for b in bars), "low": min(b["low"] for b in bars),
            "close": bars[-1]["close"], "volume": sum(b["volume"] for b in bars),
            "quote_volume": sum(b["quote_volume"] for b in bars),
            "taker_buy_volume": sum(b["taker_buy_volume"] for b in bars),
            "taker_buy_quote_volume": sum(b["taker_buy_quote_volume"] for b in bars),
            "trade_count": sum(b["trade_count"] for b in bars),
            "first_trade_id": bars[0]["first_trade_id"], "last_trade_id": bars[-1]["last_trade_id"]}


class MarketBars:
    """The bars of one market's last day, oldest first; the state the marketdata agent keeps."""

    def __init__(self, market: str, bars: list[dict] | None = None) -> None:
        self.market = market
        self.bars: dict[int, dict] = {bar["minute"]: bar for bar in sorted(bars or [], key=lambda b: b["minute"])}

    @property
    def last_minute(self) -> int | None:
        return max(self.bars) if self.bars else None

    def add(self, trades: list[Trade]) -> set[int]:
        """Count trades; the minutes whose bars changed."""
        changed = set()
        for trade in trades:
            minute = trade["ts"] // MINUTE_MS
            bar = self.bars.get(minute)
            if bar is None:
                if self.bars and minute <= max(self.bars) - DAY_MINUTES:
                    continue  # older than any window still open (a clock far behind): nothing shows it
                bar = self.bars[minute] = new_bar(self.market, minute)
            if add_trade(bar, trade):
                changed.add(minute)
        return changed

    def forget_old(self) -> list[int]:
        """Drop bars no candle or ticker can need any more; their minutes."""
        if not self.bars:
            return []
        oldest_kept = max(self.bars) - DAY_MINUTES + 1
        old = [minute for minute in self.bars if minute < oldest_kept]
        for minute in old:
            del self.bars[minute]
        return old

    def candle(self, interval: str, minute: int) -> dict | None:
        """The candle of `interval` holding `minute`; closed once a later trade has come."""
        length = INTERVALS[interval]
        start = minute - minute % length
        merged = merge([self.bars[m] for m in range(start, start + length) if m in self.bars])
        if merged is None:
            return None
        return {"market": self.market, "interval": interval, "open_time": start * MINUTE_MS,
                "close_time": (start + length) * MINUTE_MS - 1, **merged,
                "closed": max(self.bars) >= start + length}

    def ticker(self) -> dict | None:
        if not self.bars:
            return None
        last = max(self.bars)
        window = [self.bars[m] for m in sorted(self.bars) if m > last - DAY_MINUTES]
        merged = merge(window)
        if merged is None:
            return None
        del merged["taker_buy_volume"], merged["taker_buy_quote_volume"]  # candles have them, tickers not
        return {"market": self.market, "open_time": (last - DAY_MINUTES + 1) * MINUTE_MS,
                "close_time": (last + 1) * MINUTE_MS - 1, "last": merged.pop("close"), **merged}

    def updates(self, changed: set[int], previous_last: int | None) -> list[dict]:
        """The candles a batch of trades changed or closed, in time order."""
        candles: dict[tuple[str, int], dict] = {}
        minutes = set(changed)
        if previous_last is not None and self.last_minute is not None and self.last_minute > previous_last:
            minutes.add(previous_last)  # the candles that held the old last minute may have closed
        for minute in sorted(minutes):
            for interval in INTERVALS:
                candle = self.candle(interval, minute)
                if candle is not None:
                    candles[(interval, candle["open_time"])] = candle
        return sorted(candles.values(), key=lambda c: (c["open_time"], INTERVALS[c["interval"]]))


def bar_key(market: str, minute: int) -> str:
    return f"{market}#{minute}"


class MarketdataStage:
    """Counts each take of exchange.trades into bars, and says which candles and tickers changed
    (see batch.py). Like matching, it sends before it writes its rows: a crash in between
    re-derives and re-sends the same records.

    The minute-bars table holds `<market>#<minute>` bars and, under `<market>`, the latest
    minute with a bar, written after the bars themselves.
    """

    order = OUTPUTS_FIRST
    refusals = ()  # every decoded trade batch can be counted

    def __init__(self, table: Mapping[str, dict]) -> None:
        self.table = table
        self.loaded: dict[str, MarketBars] = {}
        self.begin(0)

    def forget(self) -> None:
        """Partitions moved: another worker may have moved these markets on; read them again."""
        self.loaded.clear()

    def market_bars(self, market: str) -> MarketBars:
        bars = self.loaded.get(market)
        if bars is None:
            head = self.table.get(market)
            rows = []
            if head is not None:
                last = head["minute"]
                rows = [row for m in range(last - DAY_MINUTES + 1, last + 1)
                        if (row := self.table.get(bar_key(market, m))) is not None]
            bars = self.loaded[market] = MarketBars(market, rows)
        return bars

    def begin(self, now_ms: int) -> None:
        self._messages: list[Outgoing] = []
        self._rows: dict[int, dict[str, dict | None]] = {}

    def decide(self, message, batch: TradeBatch) -> None:
        market, partition = batch["market"], message.partition
        bars = self.market_bars(market)
        previous_last = bars.last_minute
        changed = bars.add(batch["trades"])
        if not changed:
            return  # a replayed batch, already counted
        for candle in bars.updates(changed, previous_last):
            self._messages.append(Outgoing(CANDLES, market, candle, partition))
        ticker = bars.ticker()
        if ticker is not None:
            self._messages.append(Outgoing(TICKERS, market, ticker, partition))
        rows = self._rows.setdefault(partition, {})
        for minute in bars.forget_old():
            rows[bar_key(market, minute)] = None
        for minute in sorted(changed):
            if minute in bars.bars:  # not if a later trade of the batch made it older than a day
                rows.pop(bar_key(market, minute), None)
                rows[bar_key(market, minute)] = bars.bars[minute]
        rows.pop(market, None)
        rows[market] = {**bars.bars[max(bars.bars)]}  # last: a head never points past its bars

    def end(self) -> Decided:
        return Decided(self._rows, latest_only(self._messages))


def latest_only(messages: list[Outgoing]) -> list[Outgoing]:
    """Of a take's candles and tickers, the last of each candle (market, interval, open time) and
    of each market's ticker, in the order of those last ones.

    A candle or ticker is a state, not a change: a later one of the same window says everything
    the earlier one did. A take of several trade batches of one market would otherwise publish
    each of its six candles and its ticker once per batch, and every reader (the recorder, the
    hub, other systems) would pay for each."""
    last: dict[tuple, int] = {}
    for index, message in enumerate(messages):
        record = message.record
        window = (record["interval"], record["open_time"]) if message.topic is CANDLES else ()
        last[(message.topic.name, message.key, *window)] = index
    return [messages[index] for index in sorted(last.values())]
