"""Candles and the 24 h ticker equal what the list of trades gives directly, however the trades
are batched and replayed."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.marketdata import DAY_MINUTES, INTERVALS, MINUTE_MS, MarketBars, MarketdataStage, bar_key

START = 1_790_000_000_000 // MINUTE_MS * MINUTE_MS  # a minute boundary in 2026


@st.composite
def trade_lists(draw):
    """Trades of one market: ids rising (with holes), times rising over up to three days."""
    n = draw(st.integers(1, 60))
    trades, trade_id, ts = [], 0, START + draw(st.integers(0, 10 * MINUTE_MS))
    for _ in range(n):
        trade_id += draw(st.integers(1, 3))
        ts += draw(st.sampled_from([0, 1, 999, MINUTE_MS, 7 * MINUTE_MS, 3 * 60 * MINUTE_MS, 20 * 60 * MINUTE_MS]))
        trades.append({"trade_id": trade_id, "price": draw(st.integers(1, 1000)), "quantity": draw(st.integers(1, 50)),
                       "quote": draw(st.integers(1, 10**6)), "ts": ts,
                       "taker_side": draw(st.sampled_from(["buy", "sell"]))})
    return trades


def expected_candle(trades: list[dict], interval: str, open_time: int, last_ts: int) -> dict:
    length = INTERVALS[interval] * MINUTE_MS
    inside = [t for t in trades if open_time <= t["ts"] < open_time + length]
    return {"open": inside[0]["price"], "high": max(t["price"] for t in inside),
            "low": min(t["price"] for t in inside), "close": inside[-1]["price"],
            "volume": sum(t["quantity"] for t in inside), "quote_volume": sum(t["quote"] for t in inside),
            "taker_buy_volume": sum(t["quantity"] for t in inside if t["taker_side"] == "buy"),
            "taker_buy_quote_volume": sum(t["quote"] for t in inside if t["taker_side"] == "buy"),
            "trade_count": len(inside), "closed": last_ts // MINUTE_MS >= (open_time + length) // MINUTE_MS}


def fields(candle: dict) -> dict:
    return {k: candle[k] for k in ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume",
                                   "taker_buy_quote_volume", "trade_count", "closed")}


@settings(max_examples=150, deadline=None)
@given(trades=trade_lists(), cuts=st.lists(st.integers(1, 8), min_size=1, max_size=30), data=st.data())
def test_candles_and_ticker_equal_the_trades_computed_directly(trades, cuts, data):
    bars = MarketBars("M")
    published: dict[tuple[str, int], dict] = {}
    position, batches = 0, []
    while position < len(trades):
        cut = cuts[len(batches) % len(cuts)]
        batches.append(trades[position:position + cut])
        position += cut
    for index, batch in enumerate(batches):
        if index and data.draw(st.booleans()):  # a replay of earlier trades after a crash
            bars.add(batches[data.draw(st.integers(0, index - 1))])
        previous_last = bars.last_minute
        for candle in bars.updates(bars.add(batch), previous_last):
            published[(candle["interval"], candle["open_time"])] = candle
        bars.forget_old()

    last_ts = trades[-1]["ts"]
    last_minute = last_ts // MINUTE_MS
    for (interval, open_time), candle in published.items():
        if (open_time + INTERVALS[interval] * MINUTE_MS) // MINUTE_MS <= last_minute - DAY_MINUTES:
            continue  # older than a day: its final state was published while it was current
        assert fields(candle) == expected_candle(trades, interval, open_time, last_ts), (interval, open_time)
    # Every window that holds a trade of the last day has its candle published.
    for trade in trades:
        if trade["ts"] // MINUTE_MS > last_minute - DAY_MINUTES:
            for interval, minutes in INTERVALS.items():
                start = trade["ts"] // MINUTE_MS // minutes * minutes * MINUTE_MS
                assert (interval, start) in published

    window = [t for t in trades if t["ts"] // MINUTE_MS > last_minute - DAY_MINUTES]
    ticker = bars.ticker()
    assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"], ticker["volume"], ticker["quote_volume"],
            ticker["trade_count"]) == (window[0]["price"], max(t["price"] for t in window),
                                       min(t["price"] for t in window), window[-1]["price"],
                                       sum(t["quantity"] for t in window), sum(t["quote"] for t in window),
                                       len(window))
    assert len(bars.bars) <= DAY_MINUTES


def test_a_restarted_market_goes_on_from_its_saved_bars():
    trades = [{"trade_id": i, "price": 100 + i, "quantity": 1, "quote": 100, "ts": START + i * 30_000,
               "taker_side": "buy"} for i in range(1, 11)]
    first = MarketBars("M")
    first.add(trades[:6])
    saved = [dict(bar) for bar in first.bars.values()]
    again = MarketBars("M", saved)
    assert again.add(trades[3:]) == {(START + i * 30_000) // MINUTE_MS for i in range(7, 11)}
    assert again.ticker()["trade_count"] == 10 and again.ticker()["last"] == 110


@settings(max_examples=50, deadline=None)
@given(trades=trade_lists(), cuts=st.lists(st.integers(1, 8), min_size=1, max_size=10))
def test_a_take_publishes_each_candle_and_ticker_once_in_its_last_state(trades, cuts):
    """Trade batches taken together publish what the last of them published one take each,
    each candle and the ticker once."""
    batches, position = [], 0
    while position < len(trades):
        cut = cuts[len(batches) % len(cuts)]
        batches.append({"market": "M", "trades": trades[position:position + cut]})
        position += cut
    message = SimpleNamespace(partition=0)

    def key(out):  # a candle's window; a market's one ticker
        return (out.topic.name, out.record["interval"], out.record["open_time"]) if "interval" in out.record \
            else (out.topic.name,)

    one_by_one, latest = MarketdataStage({}), {}
    for batch in batches:
        one_by_one.begin(0)
        one_by_one.decide(message, batch)
        for out in one_by_one.end().messages:
            latest[key(out)] = out.record
    together = MarketdataStage({})
    together.begin(0)
    for batch in batches:
        together.decide(message, batch)
    published = [key(out) for out in together.end().messages]
    assert len(published) == len(set(published))
    assert {key(out): out.record for out in together.end().messages} == \
        {k: record for k, record in latest.items() if k in set(published)}
    assert set(published) == set(latest)  # every window the trades touched, and the ticker


def test_a_batch_spanning_more_than_a_day_keeps_only_the_last_days_bars():
    """A take catching up a backlog can hold trades more than a day apart: the older minute is
    counted, then forgotten, and its row deleted rather than written."""
    day_later = START + (DAY_MINUTES + 5) * MINUTE_MS
    batch = {"market": "M", "trades": [
        {"trade_id": 1, "price": 10, "quantity": 1, "quote": 10, "ts": START, "taker_side": "buy"},
        {"trade_id": 2, "price": 11, "quantity": 1, "quote": 11, "ts": day_later, "taker_side": "buy"}]}
    stage = MarketdataStage({})
    stage.begin(0)
    stage.decide(SimpleNamespace(partition=0), batch)
    rows = stage.end().rows[0]
    assert rows.get(bar_key("M", START // MINUTE_MS)) is None
    assert rows["M"]["minute"] == day_later // MINUTE_MS
    assert stage.market_bars("M").ticker()["trade_count"] == 1
