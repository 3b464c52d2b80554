"""The read side's Faust app: marketdata (candles, tickers) and the recorder (Cassandra).

It is a separate app (consumer group `exchange-read`), run by `exchange recorder`, so reads
scale and fail apart from the order flow: a Cassandra outage stalls the recorder, never
matching.

- marketdata (key: market): counts trades into one-minute bars kept in a RocksDB table, and
  publishes the candles and the ticker they change (marketdata.py's `MarketdataStage`).
- market-reports (key: market): each market's business per UTC day, for operators
  (market_reports.py), on exchange.market-reports.
- asset-reports (key: account): every asset's holdings, fee income, deposits and withdrawals per
  account partition (asset_reports.py), on exchange.asset-reports.
- notifier (key: market or account): turns fills, cancels by the exchange and money movements
  into notifications on exchange.notifications (notifier.py's `NotifierStage`).
- mailer (key: account; only with SMTP_HOST): e-mails the notifications their users want
  (mailer.py).
- recorder: writes trades, orders, balances, ledger entries, candles, tickers and depth
  snapshots to Cassandra (recorder_stage.py, rows in read_model.py); a take is acknowledged only
  once Cassandra has all of it.

Both run their takes through batch.py's `run_batch`, with the adapters below.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

import faust

from exchange.config import Settings
from exchange.db import cluster
from exchange.kafka_io import Replication
from exchange.reference_feed import ReferenceFeed
from schemas.topics import BALANCES, COMMAND_RESULTS, NOTIFICATIONS, ORDER_UPDATES, TRADES, Topic

from . import asset_reports, business_metrics, metrics, read_model
from .batch import run_batch
from .cassandra_sink import CassandraSink
from .faust_support import deliver, new_app, raw_topic, register, table
from .input_order import InputOrder
from .mailer import Mailer, MailStage
from .market_reports import MarketReportsStage
from .marketdata import MarketdataStage
from .notifier import NotifierStage
from .outputs import Outgoing
from .recorder_stage import RECORDED, RecorderStage
from .serde import AvroRecord, AvroRecords
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


def build_read_app(settings: Settings, name: str, replicas: Replication,
                   metrics_port: int | None = None) -> faust.App:
    app = new_app(settings, READ_APP_ID, name, replicas)
    inputs = {topic.name for topic in RECORDED}  # marketdata's trades are recorded too
    metrics.install(app, metrics_port, inputs, settings.bind_host)
    reference = ReferenceFeed(settings)  # see exchange/reference_feed.py

    @app.task
    async def _follow_reference_data() -> None:
        await reference.run()

    markets = reference.markets
    _marketdata_agent(app, settings, replicas)
    _notifier_agent(app, settings, reference)
    _market_reports_agent(app, settings, replicas)
    _asset_reports_agent(app, settings, replicas)
    if settings.smtp_host:
        _mailer_agent(app, settings)
    sink = _recorder_agent(app, settings, markets, reference)
    if metrics_port:
        _business_metrics(app, sink, reference)
    guard = StallGuard(app, inputs)

    @app.timer(CHECK_EVERY)
    async def _stall_guard() -> None:
        await guard.check()

    return app


# -- the agents' common wiring --------------------------------------------------------------

class _TableRows:
    """Marketdata's and the reports' batches go to Kafka, then to the agent's table."""

    def __init__(self, app: faust.App, writer: TableWriter) -> None:
        self.app, self.writer = app, writer

    async def send(self, messages: list[Outgoing]) -> None:
        await deliver(self.app, messages)

    async def write_rows(self, rows: dict[int, dict[str, dict | None]]) -> None:
        await self.writer.write_many(rows)


class _SendOnly:
    """The notifier keeps no rows: its batches only go to Kafka."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send(self, messages: list[Outgoing]) -> None:
        await deliver(self.app, messages)

    async def write_rows(self, rows) -> None:
        return None


def _batch_agent(app: faust.App, name: str, topics: tuple[Topic, ...], stage, durable,
                 ready: Callable[[], Awaitable[Any]] | None = None,
                 on_moved: Callable[[], None] | None = None) -> None:
    """An agent that runs what it takes through run_batch: `ready` is awaited before each take,
    `on_moved` called when partitions move (after the input order forgets the ones gone)."""
    in_order = InputOrder(lambda: app.consumer)
    inputs = {topic.name: topic for topic in topics}

    @app.on_partitions_assigned.connect
    async def _partitions_moved(sender, assigned, **kwargs) -> None:
        in_order.keep_only(assigned)
        if on_moved is not None:
            on_moved()

    async def run(stream) -> None:
        async for events in take_ready(stream, BATCH_MESSAGES, BATCH_WINDOW):
            if ready is not None:
                await ready()
            await run_batch([event.message for event in events], stage, inputs, in_order, durable)

    app.agent(raw_topic(app, *inputs), name=name)(run)


def _table_rows(app: faust.App, settings: Settings, replicas: Replication, name: str,
                record_of: Callable[[str], str], *records: str):
    """A RocksDB-backed table of the read app and the adapter that writes its rows."""
    rows = register(app, table(app, name, settings.partitions, replicas),
                    AvroRecord(records[0]) if len(records) == 1 else AvroRecords(*records))
    return rows, _TableRows(app, TableWriter(app, rows, record_of))


# -- marketdata, the reports and the notifier ---------------------------------------------------

def _marketdata_agent(app: faust.App, settings: Settings, replicas: Replication) -> None:
    bars, durable = _table_rows(app, settings, replicas, "minute-bars", lambda key: "exchange.MinuteBar",
                                "exchange.MinuteBar")
    stage = MarketdataStage(bars)
    _batch_agent(app, "marketdata", (TRADES,), stage, durable, on_moved=stage.forget)


def _market_reports_agent(app: faust.App, settings: Settings, replicas: Replication) -> None:
    days, durable = _table_rows(app, settings, replicas, "market-days", lambda key: "exchange.MarketDayReport",
                                "exchange.MarketDayReport")
    _batch_agent(app, "market-reports", (TRADES, ORDER_UPDATES), MarketReportsStage(days), durable)


def _asset_reports_agent(app: faust.App, settings: Settings, replicas: Replication) -> None:
    holdings, durable = _table_rows(app, settings, replicas, "asset-holdings", asset_reports.record_of,
                                    "exchange.AssetReport", "exchange.AccountHolding")
    _batch_agent(app, "asset-reports", (BALANCES, COMMAND_RESULTS), asset_reports.AssetReportsStage(holdings),
                 durable)


def _notifier_agent(app: faust.App, settings: Settings, reference: ReferenceFeed) -> None:
    stage = NotifierStage(reference.markets, reference.assets, settings.partitions)
    _batch_agent(app, "notifier", (ORDER_UPDATES, COMMAND_RESULTS), stage, _SendOnly(app),
                 ready=reference.ready.wait)


# -- mailer --------------------------------------------------------------------------------

def _mailer_agent(app: faust.App, settings: Settings) -> None:
    mailer = Mailer(settings, lambda messages: deliver(app, messages))
    started = asyncio.Event()

    @app.task
    async def _connect() -> None:
        await mailer.start()
        started.set()

    _batch_agent(app, "mailer", (NOTIFICATIONS,), MailStage(), mailer, ready=started.wait)


# -- recorder ------------------------------------------------------------------------------

class _CassandraRows:
    """The recorder's batches go to Cassandra; only dead letters go to Kafka, after."""

    def __init__(self, app: faust.App, sink: CassandraSink) -> None:
        self.app, self.sink = app, sink

    async def write_rows(self, writes: list) -> None:
        metrics.CASSANDRA_REQUESTS.inc(await self.sink.write(writes))
        metrics.ROWS_WRITTEN.inc(len(writes))

    async def send(self, messages: list[Outgoing]) -> None:
        await deliver(self.app, messages)


def _recorder_agent(app: faust.App, settings: Settings, markets, reference) -> CassandraSink:
    def connect():
        session = cluster(settings).connect()
        session.set_keyspace(settings.cassandra_keyspace)
        return session

    sink = CassandraSink(connect)
    connected = asyncio.Event()
    in_order = InputOrder(lambda: app.consumer)
    stage = RecorderStage(markets)
    durable = _CassandraRows(app, sink)
    inputs = {topic.name: topic for topic in RECORDED}

    @app.on_partitions_assigned.connect
    async def _partitions_moved(sender, assigned, **kwargs) -> None:
        in_order.keep_only(assigned)
        stage.forget()

    @app.task
    async def _connect() -> None:
        await sink.start()
        connected.set()

    @app.agent(raw_topic(app, *inputs), name="recorder")
    async def recorder(stream):
        async for events in take_ready(stream, BATCH_MESSAGES, BATCH_WINDOW):
            started = time.perf_counter()
            await connected.wait()
            await reference.ready.wait()
            messages = [event.message for event in events]
            for market in stage.books_missing(messages):
                first = await sink.read_one("depth_snapshot", (market,))
                stage.load_book(market, None if first is None else first.snapshot)
            await run_batch(messages, stage, inputs, in_order, durable)
            processed = {(tp.topic, tp.partition): in_order.next_offset(tp) for tp in {m.tp for m in messages}}
            positions = stage.positions({key: offset for key, offset in processed.items() if offset is not None})
            await sink.write(read_model.position_rows(positions))  # after the rows: see fresh reads
            metrics.BATCH_SECONDS.labels("recorder").observe(time.perf_counter() - started)

    return sink


# -- business metrics ----------------------------------------------------------------------

def _business_metrics(app: faust.App, sink: CassandraSink, reference: ReferenceFeed) -> None:
    @app.timer(business_metrics.EVERY)
    async def _update_business_metrics() -> None:
        await reference.ready.wait()
        try:
            await asyncio.wait_for(business_metrics.update(sink, reference.markets, reference.assets),
                                   business_metrics.EVERY)
        except Exception:  # noqa: BLE001 - a gauge left as it was is all a failure costs
            log.warning("business metrics not updated", exc_info=True)
