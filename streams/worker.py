"""The Faust app: tables, the accounts agent and the matching agent, around the pure stages.

The agents only move bytes and keep the persistence protocols (see accounts_stage.py and
matching_stage.py for why each order of steps is the safe one):

- accounts: decide -> write rows, wait until durable -> send outputs, wait for delivery;
- matching: run the engine -> send outputs, wait for delivery -> write rows, wait until durable.

Faust commits an input offset only after its event is done, and nothing is done before what it
wrote is on Kafka, so a committed offset never outruns its effects.

An unexpected exception in an accounts agent stops the worker instead of restarting the agent:
Faust would restart it silently, and the event it was on, never acknowledged, would hold that
partition's committed offset back. A stopped worker is restarted and replays from the committed
offset. (The matching agent cannot do the same; see there.)
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
from mode import CrashingSupervisor

from exchange.commands import now_ms
from exchange.config import Settings
from exchange.reference_feed import ReferenceFeed
from exchange.reference import market_spec
from schemas.codec import DecodeError, codec
from schemas.topics import COMMAND_RESULTS, COMMANDS, ORDERS, SETTLEMENTS, TRADES, account_partition

from . import metrics
from .account import ACCOUNT_RECORD, CLIENT_ORDER_RECORD, HOLD_RECORD, LedgerError, account_of, copy_row, record_of
from .accounts_stage import AccountsStage
from .book_journal import BookJournal
from .faust_support import dead_letter, deliver, new_app, raw_topic, register, table
from .input_order import InputOrder
from .matching_stage import MatchingStage
from .outputs import Outgoing
from .serde import AvroRecord, AvroRecords
from .stall_guard import CHECK_EVERY, StallGuard
from .table_writer import PendingRows, StoreRows, TableWriter

log = logging.getLogger("exchange.worker")
APP_ID = "exchange"

# An agent takes what has arrived, up to this many messages, waiting at most this long for more:
# one table write and one send barrier then serve the whole batch, two Kafka round trips of a few
# ms each. The window trades latency for fewer round trips under load. Measured on a fresh broker
# (2 cores): the REST benchmark, 128 connections, orders/s (p99), and the pipeline benchmark at
# 5,000 commands/s in messages of 500, trade p99:
#   20 ms: 1,353 (144 ms), 1.4 s | 10 ms: 1,517 (122 ms), 1.8 s | 5 ms: 1,663 (126 ms), 2.0 s |
#   2 ms: 1,948 (104 ms), 4.4 s (batches too small to amortize the round trips at that load).
# (The 20 ms and 2 ms REST figures are from a broker a benchmark had already used.)
BATCH_MESSAGES = 200
BATCH_WINDOW = 0.005  # seconds


def build_app(settings: Settings, name: str, metrics_port: int | None = None) -> faust.App:
    app = new_app(settings, APP_ID, name)
    inputs = {COMMANDS.name, SETTLEMENTS.name, ORDERS.name}
    metrics.install(app, metrics_port, inputs, settings.bind_host)
    tables = _Tables(app, settings)
    _accounts_agents(app, settings, tables)
    _matching_agent(app, settings, tables)
    guard = StallGuard(app, inputs)

    @app.timer(CHECK_EVERY)
    async def _stall_guard() -> None:
        await guard.check()

    return app


class _Tables:
    def __init__(self, app: faust.App, settings: Settings) -> None:
        account_rows = AvroRecords(ACCOUNT_RECORD, HOLD_RECORD, CLIENT_ORDER_RECORD)
        self.accounts = register(app, table(app, "accounts", settings.partitions),
                                  account_rows)
        self.book = register(app, table(app, "book", settings.partitions),
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


def _accounts_agents(app: faust.App, settings: Settings, tables: _Tables) -> None:
    stage = AccountsStage(tables.accounts, tables.markets, tables.assets, settings.partitions)
    # Two agents write the same account rows; one batch at a time, start to finish, keeps a row
    # from changing under a decision that is waiting for Kafka.
    one_at_a_time = asyncio.Lock()
    in_order = {COMMANDS: InputOrder(lambda: app.consumer), SETTLEMENTS: InputOrder(lambda: app.consumer)}

    @app.on_partitions_assigned.connect
    async def _partitions_moved(sender, assigned, **kwargs) -> None:
        for order in in_order.values():
            order.keep_only(assigned)
        tables.account_rows.forget()  # recovery may rewrite any row of what is assigned now

    async def handle(events, topic) -> None:
        started = time.perf_counter()
        await tables.reference.ready.wait()
        await in_order[topic].repair()
        await in_order[topic].prepare(event.message for event in events)
        generation = tables.account_rows.generation
        rows = PendingRows(tables.account_rows, copy_row)
        stage.begin_batch(rows)
        messages: list[Outgoing] = []
        for event in events:
            message = event.message
            if not in_order[topic].admit(message):
                continue
            try:
                record = codec.decode_as(topic.record, event.value)
                if topic is COMMANDS:
                    result = stage.on_commands(message.partition, message.offset, record["commands"], now_ms())
                    metrics.COMMANDS.inc(len(record["commands"]))
                else:
                    result = stage.on_settlements(record, now_ms())
            except (DecodeError, LedgerError, KeyError) as exc:
                messages.append(dead_letter(message, exc))
                continue
            rows.stage(message.partition, result.rows)
            messages.extend(result.messages)
        await tables.accounts_writer.write_many(rows.by_partition)
        tables.account_rows.written(rows.by_partition, generation)
        await deliver(app, messages)
        _count_decisions(messages)
        metrics.BATCH_SECONDS.labels(f"accounts-{topic.name.split('.')[-1]}").observe(time.perf_counter() - started)

    @app.agent(raw_topic(app, COMMANDS.name), name="accounts-commands", supervisor_strategy=CrashingSupervisor)
    async def commands(stream):
        async for events in stream.take_events(BATCH_MESSAGES, within=BATCH_WINDOW):
            async with one_at_a_time:
                await handle(events, COMMANDS)

    @app.agent(raw_topic(app, SETTLEMENTS.name), name="accounts-settlements",
               supervisor_strategy=CrashingSupervisor)
    async def settlements(stream):
        async for events in stream.take_events(BATCH_MESSAGES, within=BATCH_WINDOW):
            async with one_at_a_time:
                await handle(events, SETTLEMENTS)


def _matching_agent(app: faust.App, settings: Settings, tables: _Tables) -> None:
    # Faust cancels the actor of a partition that moves to another worker and hands that to the
    # supervisor as a crash, so this agent keeps the restarting one: a crashing supervisor would
    # take the whole worker down at every rebalance. An event left unacknowledged by a real crash
    # is read again by the stall guard, in order (see input_order.py).
    @app.agent(raw_topic(app, ORDERS.name), name="matching", isolated_partitions=True)
    async def matching(stream):
        # One actor per partition: its engines live here and die with the assignment.
        stage = MatchingStage(BookJournal(tables.book), tables.markets, market_spec, settings.partitions)
        in_order = InputOrder(lambda: app.consumer)
        restored = False
        async for events in stream.take_events(BATCH_MESSAGES, within=BATCH_WINDOW):
            started = time.perf_counter()
            await tables.reference.ready.wait()
            await in_order.repair()
            await in_order.prepare(event.message for event in events)
            partition = events[0].message.partition
            if not restored:
                pinned = [symbol for symbol, market in tables.markets.items() if market["partition"] == partition]
                stage.restore(pinned)
                restored = True
            messages: list[Outgoing] = []
            take = stage.take()
            engine_started = time.perf_counter()
            for event in events:
                if not in_order.admit(event.message):
                    continue
                try:
                    batch = codec.decode_as(ORDERS.record, event.value)
                    take.add(batch)
                except (DecodeError, KeyError) as exc:
                    messages.append(dead_letter(event.message, exc))
                    continue
                _count_matched(batch)
            result, commits = take.finish(now_ms())
            metrics.MATCHING_SECONDS.observe(time.perf_counter() - engine_started)
            _count_outputs(result.messages)
            messages.extend(result.messages)
            await deliver(app, messages)
            await tables.book_writer.write_many({partition: stage.commit_all(commits)})
            metrics.BATCH_SECONDS.labels("matching").observe(time.perf_counter() - started)


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


def _count_matched(batch: dict) -> None:
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
