"""The Faust app: tables, the accounts agent and the matching agent, around the pure stages.

The agents only move bytes and keep the persistence protocols (see accounts_stage.py and
matching_stage.py for why each order of steps is the safe one):

- accounts: decide -> write rows, wait until durable -> send outputs, wait for delivery;
- matching: run the engine -> send outputs, wait for delivery -> write rows, wait until durable.

Both run their takes through batch.py's `run_batch`, with the adapters below.

Faust commits an input offset only after its event is done, and nothing is done before what it
wrote is on Kafka, so a committed offset never outruns its effects.

An unexpected exception in the accounts agent stops the worker instead of restarting the agent:
Faust would restart it silently, and the event it was on, never acknowledged, would hold that
partition's committed offset back. A stopped worker is restarted and replays from the committed
offset. (The matching agent cannot do the same; see there.)
"""

from __future__ import annotations

import logging
import time

import faust
from mode import CrashingSupervisor

from exchange.commands import now_ms
from exchange.config import Settings
from exchange.kafka_io import Replication
from exchange.reference import market_spec
from exchange.reference_feed import ReferenceFeed
from schemas.topics import COMMAND_RESULTS, COMMANDS, ORDERS, SETTLEMENTS, TRADES, account_partition

from . import metrics
from .account import ACCOUNT_RECORD, CLIENT_ORDER_RECORD, HOLD_RECORD, account_of, copy_row, record_of
from .accounts_stage import AccountsStage
from .batch import run_batch
from .book_journal import BookJournal
from .faust_support import RebalanceSupervisor, deliver, new_app, raw_topic, register, table
from .input_order import InputOrder
from .matching_stage import MatchingStage
from .outputs import Outgoing
from .serde import AvroRecord, AvroRecords
from .stall_guard import CHECK_EVERY, StallGuard
from .table_writer import StoreRows, TableWriter
from .take import take_ready

log = logging.getLogger("exchange.worker")
APP_ID = "exchange"

# An agent takes what has arrived as soon as it is there (take.py), up to this many messages,
# gathering queued ones for at most this long: one table write and one send barrier, two Kafka
# round trips of a few ms each, then serve the whole take. Under load, what arrives while a take
# waits on Kafka makes the next one, so takes grow with the load without a fixed wait per hop.
# Faust's take_events waited out a fixed window instead (5 ms, at every hop): side by side on a
# fresh broker, the pipeline benchmark at 5,000 commands/s had trade p50 686-815 ms, p99
# 848-1,409 ms with it, and p50 190-224 ms, p99 304-498 ms with take.py and merged forwards.
BATCH_MESSAGES = 200
BATCH_WINDOW = 0.005  # seconds


def build_app(settings: Settings, name: str, replicas: Replication, metrics_port: int | None = None) -> faust.App:
    app = new_app(settings, APP_ID, name, replicas)
    inputs = {COMMANDS.name, SETTLEMENTS.name, ORDERS.name}
    metrics.install(app, metrics_port, inputs, settings.bind_host)
    tables = _Tables(app, settings, replicas)
    _accounts_agent(app, settings, tables)
    _matching_agent(app, settings, tables)
    guard = StallGuard(app, inputs)

    @app.timer(CHECK_EVERY)
    async def _stall_guard() -> None:
        await guard.check()

    return app


class _Tables:
    def __init__(self, app: faust.App, settings: Settings, replicas: Replication) -> None:
        account_rows = AvroRecords(ACCOUNT_RECORD, HOLD_RECORD, CLIENT_ORDER_RECORD)
        self.accounts = register(app, table(app, "accounts", settings.partitions, replicas),
                                  account_rows)
        self.book = register(app, table(app, "book", settings.partitions, replicas),
                              AvroRecord("exchange.BookRow"))
        self.account_rows = StoreRows(self.accounts, record_of,
                                      lambda key: account_partition(account_of(key), settings.partitions), copy_row)
        self.accounts_writer = TableWriter(app, self.accounts, record_of)
        self.book_writer = TableWriter(app, self.book, lambda key: "exchange.BookRow")
        # Reference data: every worker follows the whole compacted topics (see reference_feed.py).
        self.reference = ReferenceFeed(settings)
        self.markets, self.assets = self.reference.markets, self.reference.assets

        @app.task
        async def _follow_reference_data() -> None:
            await self.reference.run()


def _accounts_agent(app: faust.App, settings: Settings, tables: _Tables) -> None:
    # One agent reads both of the stage's inputs, so a take's commands and settlements share one
    # rows write and one delivery, and nothing else writes account rows while it waits on Kafka.
    # The stage decides a command once whatever the interleaving (see accounts_stage.py).
    stage = AccountsStage(tables.account_rows, tables.markets, tables.assets, settings.partitions)
    in_order = InputOrder(lambda: app.consumer)
    inputs = {COMMANDS.name: COMMANDS, SETTLEMENTS.name: SETTLEMENTS}
    durable = _AccountRows(app, tables)

    @app.on_partitions_assigned.connect
    async def _partitions_moved(sender, assigned, **kwargs) -> None:
        in_order.keep_only(assigned)
        tables.account_rows.forget()  # recovery may rewrite any row of what is assigned now

    @app.agent(raw_topic(app, COMMANDS.name, SETTLEMENTS.name), name="accounts",
               supervisor_strategy=CrashingSupervisor)
    async def accounts(stream):
        async for events in take_ready(stream, BATCH_MESSAGES, BATCH_WINDOW):
            started = time.perf_counter()
            await tables.reference.ready.wait()
            await run_batch([event.message for event in events], stage, inputs, in_order, durable,
                            observe=_count_commands)
            metrics.BATCH_SECONDS.labels("accounts").observe(time.perf_counter() - started)


class _AccountRows:
    """The accounts agent's batches go to the accounts table and Kafka."""

    def __init__(self, app: faust.App, tables: _Tables) -> None:
        self.app, self.tables = app, tables

    async def write_rows(self, rows: dict[int, dict[str, dict | None]]) -> None:
        generation = self.tables.account_rows.generation  # partitions that move meanwhile void it
        await self.tables.accounts_writer.write_many(rows)
        self.tables.account_rows.written(rows, generation)

    async def send(self, messages: list[Outgoing]) -> None:
        await deliver(self.app, messages)
        _count_decisions(messages)


class _BookRows:
    """The matching agent's batches go to Kafka and the book table."""

    def __init__(self, app: faust.App, tables: _Tables) -> None:
        self.app, self.tables = app, tables

    async def send(self, messages: list[Outgoing]) -> None:
        _count_outputs(messages)
        await deliver(self.app, messages)

    async def write_rows(self, rows: dict[int, dict[str, dict | None]]) -> None:
        await self.tables.book_writer.write_many(rows)


def _matching_agent(app: faust.App, settings: Settings, tables: _Tables) -> None:
    # Faust cancels the actor of a partition that moves to another worker and hands that to the
    # supervisor as a crash, so this agent keeps a restarting one: a crashing supervisor would
    # take the whole worker down at every rebalance, and so did Faust's default one whenever two
    # actors restarted at once (see RebalanceSupervisor). An event left unacknowledged by a real
    # crash is read again by the stall guard, in order (see input_order.py).
    inputs = {ORDERS.name: ORDERS}
    durable = _BookRows(app, tables)

    @app.agent(raw_topic(app, ORDERS.name), name="matching", isolated_partitions=True,
               supervisor_strategy=RebalanceSupervisor)
    async def matching(stream):
        # One actor per partition: its engines live here and die with the assignment.
        stage = MatchingStage(BookJournal(tables.book), tables.markets, market_spec, settings.partitions)
        in_order = InputOrder(lambda: app.consumer)
        restored = False
        async for events in take_ready(stream, BATCH_MESSAGES, BATCH_WINDOW):
            started = time.perf_counter()
            await tables.reference.ready.wait()
            if not restored:
                partition = events[0].message.partition
                stage.restore([symbol for symbol, market in tables.markets.items() if market["partition"] == partition])
                restored = True
            await run_batch([event.message for event in events], stage, inputs, in_order, durable,
                            observe=_count_matched)
            metrics.BATCH_SECONDS.labels("matching").observe(time.perf_counter() - started)


def _count_commands(message, record: dict) -> None:
    if message.topic == COMMANDS.name:
        metrics.COMMANDS.inc(len(record["commands"]))


def _count_decisions(messages: list[Outgoing]) -> None:
    for m in messages:
        if m.topic is ORDERS:
            metrics.FORWARDED.inc(len(m.record["commands"]))
        elif m.topic is COMMAND_RESULTS:
            result = m.record
            metrics.COMMAND_RESULTS.labels(result["kind"], "accepted" if result["accepted"] else "refused").inc()
            if not result["accepted"]:
                log.info("command refused", extra={"command_id": result["command_id"], "account": result["account"],
                                                   "order_id": result["order_id"], "reason": result["reason"]})


def _count_matched(message, batch: dict) -> None:
    metrics.MATCHED.labels(batch["market"]).inc(len(batch["commands"]))
    now = now_ms()
    for command in batch["commands"]:
        metrics.COMMAND_AGE.observe(max(0, now - command["ts"]) / 1000)


def _count_outputs(messages: list[Outgoing]) -> None:
    for m in messages:
        if m.topic is TRADES:
            market = m.record["market"]
            metrics.TRADES.labels(market).inc(len(m.record["trades"]))
            if log.isEnabledFor(logging.DEBUG):
                for trade in m.record["trades"]:
                    log.debug("trade", extra={"trade_id": trade["trade_id"], "market": market,
                                              "maker_order_id": trade["maker_order_id"],
                                              "taker_order_id": trade["taker_order_id"]})
