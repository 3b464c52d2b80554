"""The read side's Faust app: marketdata (candles, tickers) and the recorder (Cassandra).

It is a separate app (consumer group `exchange-read`), run by `exchange recorder`, so reads
scale and fail apart from the order flow: a Cassandra outage stalls the recorder, never
matching.

- marketdata (key: market): counts trades into one-minute bars kept in a RocksDB table, and
  publishes the candles and the ticker they change. Like matching, it sends before it writes
  its rows: a crash in between re-derives and re-sends the same records.
- recorder: writes trades, orders, balances, ledger entries, candles, tickers and depth
  snapshots to Cassandra (rows in read_model.py) and lets Faust acknowledge a batch only once
  Cassandra has all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust

from exchange.config import Settings
from exchange.db import cluster
from exchange.reference_feed import ReferenceFeed
from schemas.codec import DecodeError, codec
from schemas.topics import BALANCES, CANDLES, COMMAND_RESULTS, DEPTH, ORDER_UPDATES, TICKERS, TRADES

from . import metrics, read_model
from .cassandra_sink import CassandraSink
from .depth_book import DepthBook, DepthGap
from .faust_support import dead_letter, deliver, new_app, raw_topic, register, table
from .input_order import InputOrder
from .marketdata import DAY_MINUTES, MarketBars
from .outputs import Outgoing
from .serde import AvroRecord
from .stall_guard import CHECK_EVERY, StallGuard
from .table_writer import TableWriter
from .take import take_ready

log = logging.getLogger("exchange.read_worker")
READ_APP_ID = "exchange-read"
# Both agents take what has arrived (take.py): Faust's take_events acknowledged a batch even
# when the agent raised or was stopped in the middle of it, so a recorder that crashed on a
# message, or was stopped while writing, skipped what it had not written.
BATCH_MESSAGES = 500
BATCH_WINDOW = 0.005  # seconds: the longest a take gathers messages already queued
RECORDED = (TRADES, ORDER_UPDATES, BALANCES, COMMAND_RESULTS, CANDLES, TICKERS, DEPTH)


def build_read_app(settings: Settings, name: str, metrics_port: int | None = None) -> faust.App:
    app = new_app(settings, READ_APP_ID, name)
    inputs = {topic.name for topic in RECORDED}  # marketdata's trades are recorded too
    metrics.install(app, metrics_port, inputs, settings.bind_host)
    reference = ReferenceFeed(settings)  # see exchange/reference_feed.py

    @app.task
    async def _follow_reference_data() -> None:
        await reference.run()

    markets = reference.markets
    _marketdata_agent(app, settings)
    _recorder_agent(app, settings, markets, reference)
    guard = StallGuard(app, inputs)

    @app.timer(CHECK_EVERY)
    async def _stall_guard() -> None:
        await guard.check()

    return app


# -- marketdata ----------------------------------------------------------------------------

def _bar_key(market: str, minute: int) -> str:
    return f"{market}#{minute}"


def _marketdata_agent(app: faust.App, settings: Settings) -> None:
    bars_table = register(app, table(app, "minute-bars", settings.partitions),
                          AvroRecord("exchange.MinuteBar"))
    writer = TableWriter(app, bars_table, lambda key: "exchange.MinuteBar")
    in_order = InputOrder(lambda: app.consumer)
    loaded: dict[str, MarketBars] = {}

    @app.on_partitions_assigned.connect
    async def _partitions_moved(sender, assigned, **kwargs) -> None:
        in_order.keep_only(assigned)
        loaded.clear()  # another worker may have moved these markets on; read them again

    def market_bars(market: str) -> MarketBars:
        bars = loaded.get(market)
        if bars is None:
            # `<market>` holds the latest minute with a bar, written after the bars themselves.
            head = bars_table.get(market)
            rows = []
            if head is not None:
                last = head["minute"]
                rows = [row for m in range(last - DAY_MINUTES + 1, last + 1)
                        if (row := bars_table.get(_bar_key(market, m))) is not None]
            bars = loaded[market] = MarketBars(market, rows)
        return bars

    @app.agent(raw_topic(app, TRADES.name), name="marketdata")
    async def marketdata(stream):
        async for events in take_ready(stream, BATCH_MESSAGES, BATCH_WINDOW):
            await in_order.repair()
            await in_order.prepare(event.message for event in events)
            messages: list[Outgoing] = []
            rows: dict[int, dict[str, dict | None]] = {}
            for event in events:
                if not in_order.admit(event.message):
                    continue
                try:
                    batch = codec.decode_as(TRADES.record, event.value)
                except DecodeError as exc:
                    messages.append(dead_letter(event.message, exc))
                    continue
                market, partition = batch["market"], event.message.partition
                bars = market_bars(market)
                previous_last = bars.last_minute
                changed = bars.add(batch["trades"])
                if not changed:
                    continue  # a replayed batch, already counted
                for candle in bars.updates(changed, previous_last):
                    messages.append(Outgoing(CANDLES, market, candle, partition))
                ticker = bars.ticker()
                if ticker is not None:
                    messages.append(Outgoing(TICKERS, market, ticker, partition))
                part = rows.setdefault(partition, {})
                for minute in bars.forget_old():
                    part[_bar_key(market, minute)] = None
                for minute in sorted(changed):
                    part.pop(_bar_key(market, minute), None)
                    part[_bar_key(market, minute)] = bars.bars[minute]
                part.pop(market, None)
                part[market] = {**bars.bars[bars.last_minute]}  # last: a head never points past its bars
            await deliver(app, messages)
            await writer.write_many(rows)


# -- recorder ------------------------------------------------------------------------------

def _recorder_agent(app: faust.App, settings: Settings, markets, reference) -> None:
    def connect():
        session = cluster(settings).connect()
        session.set_keyspace(settings.cassandra_keyspace)
        return session

    sink = CassandraSink(connect)
    connected = asyncio.Event()
    in_order = InputOrder(lambda: app.consumer)
    books: dict[str, DepthBook] = {}
    behind: set[str] = set()  # markets whose depth lost updates and waits for a full book
    by_name = {topic.name: topic for topic in RECORDED}

    @app.on_partitions_assigned.connect
    async def _partitions_moved(sender, assigned, **kwargs) -> None:
        in_order.keep_only(assigned)
        books.clear()  # read again from their snapshots, which are as far as this worker wrote

    @app.task
    async def _connect() -> None:
        await sink.start()
        connected.set()

    async def depth_book(market: str) -> DepthBook:
        book = books.get(market)
        if book is None:
            first = await sink.read_one("depth_snapshot", (market,))
            book = DepthBook(market) if first is None else DepthBook.from_snapshot(
                codec.decode_as("exchange.DepthSnapshot", first.snapshot))
            books[market] = book
        return book

    @app.agent(raw_topic(app, *by_name), name="recorder")
    async def recorder(stream):
        async for events in take_ready(stream, BATCH_MESSAGES, BATCH_WINDOW):
            started = time.perf_counter()
            await connected.wait()
            await reference.ready.wait()
            await in_order.repair()
            await in_order.prepare(event.message for event in events)
            writes: list[read_model.Write] = []
            dead: list[Outgoing] = []
            changed_books: dict[str, DepthBook] = {}
            for event in events:
                message = event.message
                if not in_order.admit(message):
                    continue
                topic = by_name[message.topic]
                try:
                    record = codec.decode_as(topic.record, event.value)
                    if topic is DEPTH:
                        book = await depth_book(record["market"])
                        if _follow(book, record, behind):
                            changed_books[book.market] = book
                    else:
                        writes.extend(_rows(topic, record, message.offset, markets))
                except (DecodeError, KeyError) as exc:
                    dead.append(dead_letter(message, exc))
            for book in changed_books.values():
                snapshot = codec.encode("exchange.DepthSnapshot", book.snapshot())
                writes.extend(read_model.depth_rows(book.market, book.last_update_id, snapshot))
            writes = read_model.newest_only(writes)
            await sink.write(writes)
            await deliver(app, dead)
            metrics.ROWS_WRITTEN.inc(len(writes))
            metrics.BATCH_SECONDS.labels("recorder").observe(time.perf_counter() - started)


def _follow(book: DepthBook, update: dict, behind: set[str]) -> bool:
    """Apply a depth update to the recorded book; True if it changed.

    Past a gap the book stays as it was (its snapshot too) and everything else is still
    recorded: stopping the whole recorder on one market's lost updates would only add to them.
    """
    market = book.market
    try:
        changed = book.apply(update)
    except DepthGap as gap:
        metrics.DEPTH_GAPS.labels(market).inc()
        if market not in behind:
            behind.add(market)
            log.error("depth updates lost (%s): %s's depth snapshot stays at update %d until the next full book",
                      gap, market, book.last_update_id)
        return False
    if changed and market in behind:
        behind.discard(market)
        log.warning("%s's depth is whole again, from a full book at update %d", market, book.last_update_id)
    return changed


def _rows(topic, record: dict, offset: int, markets) -> list[read_model.Write]:
    if topic is TRADES:
        market = markets[record["market"]]
        return [row for trade in record["trades"] for row in read_model.trade_rows(trade, market)]
    if topic is ORDER_UPDATES:
        return [row for update in record["updates"] for row in read_model.order_rows(update)]
    if topic is BALANCES:
        return read_model.balance_rows(record, offset)
    if topic is COMMAND_RESULTS:
        return read_model.command_result_rows(record)
    if topic is CANDLES:
        return read_model.candle_rows(record)
    return read_model.ticker_rows(record)
