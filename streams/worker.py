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

import faust
from mode import CrashingSupervisor

from exchange.commands import now_ms
from exchange.config import Settings
from exchange.reference import market_spec
from schemas.codec import DecodeError, codec
from schemas.topics import ASSETS, COMMANDS, DEAD_LETTERS, MARKETS, ORDERS, SETTLEMENTS

from .account import ACCOUNT_RECORD, CLIENT_ORDER_RECORD, HOLD_RECORD, LedgerError, record_of
from .accounts_stage import AccountsStage
from .book_journal import BookJournal
from .input_order import InputOrder
from .matching_stage import MatchingStage, PendingCommit
from .outputs import Outgoing
from .serde import UTF8, AvroRecord, AvroRecords
from .stall_guard import CHECK_EVERY, StallGuard
from .table_writer import PendingRows, TableWriter

log = logging.getLogger("exchange.worker")
APP_ID = "exchange"

# An agent takes what has arrived, up to this many messages, waiting at most this long for more:
# one table write and one send barrier then serve the whole batch.
BATCH_MESSAGES = 200
BATCH_WINDOW = 0.002  # seconds


def build_app(settings: Settings, name: str) -> faust.App:
    datadir = settings.state_dir / "workers" / name
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        APP_ID,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        table_standby_replicas=1,  # another worker keeps a warm copy of each table partition
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_disable_leader=True,
        # A worker that is gone (kill -9, lost host) loses its partitions to the others after
        # this long without heartbeats.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        web_enabled=False,
        stream_wait_empty=False,
    )
    _never_commit_unread(app)
    tables = _Tables(app, settings)
    _accounts_agents(app, settings, tables)
    _matching_agent(app, settings, tables)
    guard = StallGuard(app, {COMMANDS.name, SETTLEMENTS.name, ORDERS.name})

    @app.timer(CHECK_EVERY)
    async def _stall_guard() -> None:
        await guard.check()

    return app


def _never_commit_unread(app: faust.App) -> None:
    """Stop Faust from committing offsets that no agent ever saw.

    When its fetcher sees an offset jump, faust-streaming 0.15 records the skipped offsets as a
    "gap" and later commits over them as if acknowledged; that serves compacted and
    transactional topics, where offsets really are missing. Our input topics have none, so a jump
    only means messages were lost on the way: Faust drops a fetched batch when the group
    generation changes, and after a seek back, messages fetched before it still arrive. Committed,
    those offsets would never be read again. Without the gap record the committed offset stays
    below them, and input_order.py reads them again.
    """
    async def remember_no_gap(tp, offset_from: int, offset_to: int) -> None:
        log.info("%s[%s]: offsets %s..%s skipped by the fetcher; they stay uncommitted",
                 tp.topic, tp.partition, offset_from, offset_to - 1)

    app.consumer._add_gap = remember_no_gap


class _Tables:
    def __init__(self, app: faust.App, settings: Settings) -> None:
        account_rows = AvroRecords(ACCOUNT_RECORD, HOLD_RECORD, CLIENT_ORDER_RECORD)
        self.accounts = _register(app, faust.Table(app, name="accounts", partitions=settings.partitions),
                                  account_rows)
        self.book = _register(app, faust.Table(app, name="book", partitions=settings.partitions),
                              AvroRecord("exchange.BookRow"))
        self.accounts_writer = TableWriter(app, self.accounts, record_of)
        self.book_writer = TableWriter(app, self.book, lambda key: "exchange.BookRow")
        # Reference data: every worker reads the whole compacted topic.
        self.markets = _global(app, MARKETS)
        self.assets = _global(app, ASSETS)


def _register(app: faust.App, table, values):
    """Give a table Avro values and UTF-8 keys, then register it.

    Faust derives serializers from model types only, and registering a table builds its
    changelog topic with whatever serializers it has then, so they are set before.
    """
    table.key_serializer = UTF8
    table.value_serializer = values
    if not table.is_global:
        # RocksDB stores take a changelog message's bytes as they are (see TableWriter), so
        # decoding them while restoring or keeping a standby copy would be wasted work.
        table.changelog_topic = table.changelog_topic.derive(key_serializer="raw", value_serializer="raw")
    return app.tables.add(table)


class _TopicGlobalTable(faust.GlobalTable):
    """A GlobalTable whose changelog is an existing topic of ours.

    faust-streaming 0.15's partition assignor looks global tables up by the default changelog
    name (`<app>-<table>-changelog`) even when `changelog_topic` names another topic; the lookup
    fails and kills the assignment silently. Naming the real topic here keeps them in step.
    """

    def _changelog_topic_name(self) -> str:
        return self.changelog_topic.get_topic_name()


def _global(app: faust.App, topic) -> faust.GlobalTable:
    changelog = app.topic(topic.name, partitions=1, key_serializer=UTF8, value_serializer=AvroRecord(topic.record))
    table = _TopicGlobalTable(app, name=topic.name, partitions=1, changelog_topic=changelog, store="memory://",
                              is_global=True)
    return _register(app, table, AvroRecord(topic.record))


def _raw_topic(app: faust.App, *names: str) -> faust.TopicT:
    # Decoded by the agents themselves, so undecodable input can go to the dead-letter topic.
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


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

    async def handle(events, topic) -> None:
        await in_order[topic].repair()
        rows = PendingRows(tables.accounts)
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
                else:
                    result = stage.on_settlements(record, now_ms())
            except (DecodeError, LedgerError, KeyError) as exc:
                messages.append(_dead_letter(message, exc))
                continue
            rows.stage(message.partition, result.rows)
            messages.extend(result.messages)
        await tables.accounts_writer.write_many(rows.by_partition)
        await _deliver(app, messages)

    @app.agent(_raw_topic(app, COMMANDS.name), name="accounts-commands", supervisor_strategy=CrashingSupervisor)
    async def commands(stream):
        async for events in stream.take_events(BATCH_MESSAGES, within=BATCH_WINDOW):
            async with one_at_a_time:
                await handle(events, COMMANDS)

    @app.agent(_raw_topic(app, SETTLEMENTS.name), name="accounts-settlements",
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
    @app.agent(_raw_topic(app, ORDERS.name), name="matching", isolated_partitions=True)
    async def matching(stream):
        # One actor per partition: its engines live here and die with the assignment.
        stage = MatchingStage(BookJournal(tables.book), tables.markets, market_spec, settings.partitions)
        in_order = InputOrder(lambda: app.consumer)
        restored = False
        async for events in stream.take_events(BATCH_MESSAGES, within=BATCH_WINDOW):
            await in_order.repair()
            partition = events[0].message.partition
            if not restored:
                pinned = [symbol for symbol, market in tables.markets.items() if market["partition"] == partition]
                stage.restore(pinned)
                restored = True
            messages: list[Outgoing] = []
            pending: dict[str, PendingCommit] = {}  # per market: the batch's changes, merged
            for event in events:
                if not in_order.admit(event.message):
                    continue
                try:
                    batch = codec.decode_as(ORDERS.record, event.value)
                    result, commit = stage.on_batch(batch, now_ms())
                except (DecodeError, KeyError) as exc:
                    messages.append(_dead_letter(event.message, exc))
                    continue
                messages.extend(result.messages)
                if commit is not None:
                    pending[commit.market] = commit.after(pending.get(commit.market))
            await _deliver(app, messages)
            await tables.book_writer.write_many({partition: stage.commit_all(pending.values())})


async def _deliver(app: faust.App, messages: list[Outgoing]) -> None:
    """Send and wait until Kafka has every message."""
    futures = []
    for m in messages:
        value = codec.encode(m.topic.record, m.record)
        futures.append(await app.producer.send(m.topic.name, m.key.encode(), value, m.partition, None, None))
    if futures:
        await asyncio.gather(*futures)


def _dead_letter(message, exc: Exception) -> Outgoing:
    reason = f"{type(exc).__name__}: {exc}"
    log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason)
    record = {"topic": message.topic, "partition": message.partition, "offset": message.offset,
              "key": message.key, "value": message.value, "reason": reason[:2000], "ts": now_ms()}
    return Outgoing(DEAD_LETTERS, message.topic, record, 0)
