"""`exchange partitions grow --to N`: more partitions for a stopped, drained exchange.

What follows EXCHANGE_PARTITIONS grows: the catalogue's partitioned topics and the Faust tables'
changelogs. Markets stay where their exchange.markets record pins them, so the book and the
minute bars (keyed by market or order) stay where they are. Accounts are hashed over the
partitions (murmur2 of the account id), so an account whose hash lands elsewhere moves: each of
its rows in the accounts changelog is written to its new partition and deleted (a tombstone) from
its old one.

Why the exchange must be drained first, and why that makes the move safe:
- An account row records offsets of its exchange.commands partition (`last_command_offset`,
  `undelivered_from`, the verdicts in `refused`), and its hold and client-id rows the offset of
  the command that made them (`command_offset`). On the new partition those offsets mean nothing,
  so a moved account starts again at "nothing read from this partition yet" (-1, as
  streams/account.py's `new_state`), and its holds and client-id rows at -1 too, so they still
  count as made by a command the account row counts (`counted`). Forgetting the offsets is right
  only if no command of the account is left to read or to deliver on its old partition: every
  consumer group has read everything, and nothing runs.
- A row its account row does not count (left by a decision cut short by a crash) does not exist
  (streams/account.py): it is deleted, not moved, since under the reset offsets it would count.
- The matching watermarks (per market, per exchange.commands source partition, the last source
  offset applied) need no change: a partition's offsets only grow, so an old partition's next
  offsets are above its watermark, and a new partition starts at offset 0, above the watermark it
  does not have yet (-1). That holds too for an account that moves to an old partition (growing 2
  to 3 moves accounts between old partitions as well): its commands are new offsets there.
- New partitions have no committed offsets; the workers read them from the start
  (`consumer_auto_offset_reset="earliest"`), and nothing can have been written to them before the
  workers run again.

Crash safety and idempotence: rows are copied first (each account's account row last, in one
partition, as the stage writes them) and only once Kafka has every copy are the old rows
deleted (the account row last). A row already present on its account's partition is never copied
again (a crash between copy and delete left it there, and nothing newer can exist since nothing
ran), so a second run, or a run after a crash at any point, only finishes what is left.

The workers' RocksDB copies: Faust restores a table partition from the offset it persisted
locally, so a worker that restarts reads the moved rows on their new partitions and the
tombstones on the old ones, as long as the changelog still holds those tombstones (Kafka keeps
them `delete.retention.ms`, one day by default, after compaction). `--clear-local-state` removes
the accounts table's local files under this host's $EXCHANGE_STATE_DIR instead (a full restore).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.errors import GroupCoordinatorNotAvailableError

from exchange.config import Settings
from exchange.holdings_moves import HoldingMoves, plan_holding_moves
from exchange.kafka_io import TopicError, describe_groups, partition_counts, read_rows
from schemas.codec import codec
from schemas.topics import (
    ASSET_REPORTS,
    BALANCES,
    CANDLES,
    CATALOGUE,
    COMMAND_RESULTS,
    COMMANDS,
    DEPTH,
    MARKET_REPORTS,
    NOTIFICATIONS,
    ORDER_UPDATES,
    ORDERS,
    SETTLEMENTS,
    TICKERS,
    TRADES,
    account_partition,
)
from streams.account import ACCOUNT_RECORD, account_of, counted, record_of
from streams.asset_reports import record_of as holdings_record

# The consumer groups of the exchange's processes: the order flow's Faust app (streams.worker.APP_ID),
# the read side's (streams.read_worker.READ_APP_ID), and the API processes (api.feeds.REPLY_GROUP).
# Spelled out rather than imported: those modules load Faust and the API (the test checks they agree).
CORE_GROUP = "exchange"
READ_GROUP = "exchange-read"
REPLY_GROUP = "exchange-api-replies"
CORE_INPUTS = (COMMANDS, SETTLEMENTS, ORDERS)
# streams.recorder_stage.RECORDED: what the read app's agents read (the notifier and market reports read
# some of these, the mailer notifications)
READ_INPUTS = (TRADES, ORDER_UPDATES, BALANCES, COMMAND_RESULTS, CANDLES, TICKERS, DEPTH, NOTIFICATIONS,
               MARKET_REPORTS, ASSET_REPORTS)

# The Faust tables' changelogs (`<app id>-<table>-changelog`), partitioned like their inputs.
ACCOUNTS_CHANGELOG = f"{CORE_GROUP}-accounts-changelog"
BOOK_CHANGELOG = f"{CORE_GROUP}-book-changelog"
BARS_CHANGELOG = f"{READ_GROUP}-minute-bars-changelog"
DAYS_CHANGELOG = f"{READ_GROUP}-market-days-changelog"  # market-keyed, like the bars: rows stay put
HOLDINGS_CHANGELOG = f"{READ_GROUP}-asset-holdings-changelog"  # account-keyed: moved (holdings_moves.py)
CHANGELOGS = (ACCOUNTS_CHANGELOG, BOOK_CHANGELOG, BARS_CHANGELOG, DAYS_CHANGELOG, HOLDINGS_CHANGELOG)

NOTHING_YET = -1  # an offset no command has: "nothing read from this partition yet"


class GrowError(RuntimeError):
    """The exchange cannot be grown now; the message says why and what to do."""


def grown_topics() -> list[str]:
    """Every topic whose partition count is EXCHANGE_PARTITIONS: the catalogue's and the changelogs."""
    return [t.name for t in CATALOGUE if t.partitioned and t.count is None] + list(CHANGELOGS)


# -- the accounts that move (pure) ---------------------------------------------------------------

@dataclass
class Moves:
    copies: dict[int, list[tuple[str, dict]]] = field(default_factory=dict)  # new partition -> rows, in order
    deletes: dict[int, list[str]] = field(default_factory=dict)  # old partition -> keys, in order
    accounts: dict[str, tuple[int, int]] = field(default_factory=dict)  # account -> (from, to)
    dropped: int = 0  # rows deleted without a copy: not counted by their account row
    already_copied: int = 0  # rows found on their new partition already (an earlier run)


def moved_state(state: dict) -> dict:
    """An account row as it starts on its new partition: no command read or to deliver there yet."""
    return {**state, "last_command_offset": NOTHING_YET, "undelivered_from": NOTHING_YET, "refused": {}}


def plan_moves(live: dict[int, dict[str, bytes]], partitions: int,
               decode: Callable[[str, bytes], dict] | None = None) -> Moves:
    """What to write and delete so every accounts-table row lives on its account's partition.

    `live`: the changelog's current rows, partition -> key -> encoded value. Driven by where rows
    are, not by the old count, so it finishes whatever an earlier, interrupted run left.
    """
    decode = decode or (lambda key, raw: codec.decode_as(record_of(key), raw))
    moves = Moves()
    for partition in sorted(live):
        rows = live[partition]
        strays: dict[str, list[str]] = {}
        for key in rows:
            account = account_of(key)
            if account_partition(account, partitions) != partition:
                strays.setdefault(account, []).append(key)
        for account, keys in strays.items():
            target = account_partition(account, partitions)
            there = live.get(target, {})
            raw_state = rows.get(account)
            state = decode(account, raw_state) if raw_state is not None else None
            # The account row last, as the stage writes an account's rows (streams/account.py).
            keys.sort(key=lambda k: record_of(k) == ACCOUNT_RECORD)
            for key in keys:
                moves.deletes.setdefault(partition, []).append(key)
                if key in there:
                    moves.already_copied += 1
                    continue
                if key == account:
                    assert state is not None
                    row = moved_state(state)
                else:
                    row = decode(key, rows[key])
                    if state is None or not counted(row, state):
                        moves.dropped += 1
                        continue
                    row = {**row, "command_offset": NOTHING_YET}
                moves.copies.setdefault(target, []).append((key, row))
            moves.accounts[account] = (partition, target)
    return moves


# -- Kafka -----------------------------------------------------------------------------------------

@dataclass
class Report:
    grown: dict[str, tuple[int, int]] = field(default_factory=dict)  # topic -> (before, after)
    moves: Moves = field(default_factory=Moves)
    cleared: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def grow(settings: Settings, to: int, clear_local_state: bool = False,
               say: Callable[[str], None] = print) -> Report:
    """Grow a stopped, drained exchange to `to` partitions and move the accounts that hash elsewhere."""
    if to < 1:
        raise GrowError("--to must be at least 1")
    started = time.monotonic()
    report = Report()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        counts = await partition_counts(admin)
        if COMMANDS.name not in counts:
            raise GrowError(f"topic {COMMANDS.name} does not exist at {settings.kafka_bootstrap}: "
                            "nothing to grow (`exchange topics create` makes the topics with EXCHANGE_PARTITIONS)")
        bigger = {name: counts[name] for name in grown_topics() if counts.get(name, 0) > to}
        if bigger:
            raise GrowError(f"Kafka cannot take partitions away, and these topics have more than {to}: "
                            + ", ".join(f"{n} ({c})" for n, c in sorted(bigger.items())))
        problems = await check_drained(admin, consumer, counts, report.notes)
        if problems:
            raise GrowError("the exchange is not stopped and drained:\n  - " + "\n  - ".join(problems)
                            + "\nstop the API processes first, let the workers and recorders catch up, "
                              "stop them, and run this again")
        for note in report.notes:
            say(note)
        await _grow_topics(admin, counts, to, report, say)
    finally:
        await consumer.stop()
        await admin.close()
    live = await read_changelog(settings, ACCOUNTS_CHANGELOG)
    report.moves = plan_moves(live, to)
    await _apply(settings, report.moves, say)
    moves = report.moves
    say(f"accounts moved: {len(moves.accounts)} ({sum(len(r) for r in moves.copies.values())} rows copied, "
        f"{sum(len(k) for k in moves.deletes.values())} deleted from their old partitions, {moves.dropped} rows "
        f"of decisions cut short dropped, {moves.already_copied} copied by an earlier run)")
    for account, (old, new) in sorted(moves.accounts.items()):
        say(f"  {account}: partition {old} -> {new}")
    holdings = plan_holding_moves(await read_changelog(settings, HOLDINGS_CHANGELOG), to)
    await _apply_holdings(settings, holdings)
    say(f"asset reports: {holdings.moved} holdings moved, {len(holdings.writes)} partitions' reports recounted")
    tables = local_account_tables(settings.state_dir)
    if clear_local_state:
        for path in tables:
            shutil.rmtree(path)
            report.cleared.append(path)
            say(f"removed {path}")
    elif tables and moves.accounts:
        say(f"this host's workers keep {len(tables)} local copies of accounts-table partitions under "
            f"{settings.state_dir / 'workers'}; they catch up from the changelog when the workers start, if "
            "that is within the changelog's delete.retention.ms (one day by default). Later than that, "
            "remove them first (`--clear-local-state`, or rm -r the accounts-*.db directories there), on "
            "every host that runs workers")
    say(f"done in {time.monotonic() - started:.1f}s: now run every process (workers, recorders, API, hubs) "
        f"with EXCHANGE_PARTITIONS={to}")
    return report


async def check_drained(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, counts: dict[str, int],
                        notes: list[str] | None = None) -> list[str]:
    """What keeps the exchange from being grown now: active group members, unread input."""
    problems = []
    for described in await describe_groups(admin, [CORE_GROUP, READ_GROUP, REPLY_GROUP]):
        members = described["members"]
        if members:
            who = ", ".join(sorted({f"{m['client_id']}@{m['client_host']}" for m in members}))
            problems.append(f"consumer group {described['group']} has {len(members)} active member(s) ({who}): "
                            "stop them (a killed process stays a member until its session times out, about 10 s)")
    for group, inputs in ((CORE_GROUP, CORE_INPUTS), (READ_GROUP, READ_INPUTS)):
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except GroupCoordinatorNotAvailableError:  # a fresh broker: no group has committed anything
            committed = {}
        if not committed and group == READ_GROUP:
            if notes is not None:
                notes.append(f"consumer group {group} has committed nothing (no recorder ever ran): not checked")
            continue
        tps = [TopicPartition(t.name, p) for t in inputs for p in range(counts.get(t.name, 0))]
        ends = await consumer.end_offsets(tps) if tps else {}
        lagging = []
        for tp in tps:
            done = committed[tp].offset if tp in committed else 0
            lag = ends[tp] - max(done, 0)
            if lag > 0:
                lagging.append(f"{tp.topic}[{tp.partition}] {lag}")
        if lagging:
            problems.append(f"consumer group {group} has not read everything: {', '.join(lagging[:8])}"
                            + (f" and {len(lagging) - 8} more partitions" if len(lagging) > 8 else ""))
    return problems


async def _grow_topics(admin: AIOKafkaAdminClient, counts: dict[str, int], to: int, report: Report,
                       say: Callable[[str], None]) -> None:
    wanted = {name: NewPartitions(total_count=to) for name in grown_topics()
              if name in counts and counts[name] < to}
    for name in grown_topics():
        if name not in counts:
            say(f"{name}: does not exist (its app creates it with EXCHANGE_PARTITIONS when it first runs)")
        elif counts[name] == to:
            say(f"{name}: has {to} partitions already")
    if not wanted:
        return
    await admin.create_partitions(wanted)
    async with asyncio.timeout(30):  # until every new partition has a leader, so the writes below find them
        while True:
            led = {t["topic"]: sum(1 for p in t["partitions"] if p["leader"] >= 0)
                   for t in await admin.describe_topics(list(wanted)) if not t["error_code"]}
            if all(led.get(name, 0) >= to for name in wanted):
                break
            await asyncio.sleep(0.2)
    for name in wanted:
        report.grown[name] = (counts[name], to)
        say(f"{name}: {counts[name]} -> {to} partitions")


async def read_changelog(settings: Settings, topic: str) -> dict[int, dict[str, bytes]]:
    """A changelog's current rows per partition, encoded; none if its app never created it."""
    try:
        return await read_rows(settings, topic)
    except TopicError:
        return {}


async def _apply(settings: Settings, moves: Moves, say: Callable[[str], None]) -> None:
    """The accounts' copies, all acknowledged by every in-sync replica, then the deletes."""
    await _rewrite(settings, ACCOUNTS_CHANGELOG, record_of, moves.copies, moves.deletes)


async def _apply_holdings(settings: Settings, moves: HoldingMoves) -> None:
    """Holdings and recounted reports, all acknowledged, then the holdings' deletes."""
    await _rewrite(settings, HOLDINGS_CHANGELOG, holdings_record, moves.writes, moves.deletes)


async def _rewrite(settings: Settings, topic: str, record_of: Callable[[str], str],
                   writes: dict[int, list[tuple[str, dict]]], deletes: dict[int, list[str]]) -> None:
    """Rows written to a changelog, all acknowledged by every in-sync replica, then the deletes."""
    if not writes and not deletes:
        return
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5)
    await producer.start()
    try:
        await _send(producer, topic, {p: [(k, codec.encode(record_of(k), row)) for k, row in rows]
                                      for p, rows in writes.items()})
        await _send(producer, topic, {p: [(k, None) for k in keys] for p, keys in deletes.items()})
    finally:
        await producer.stop()


async def _send(producer: AIOKafkaProducer, topic: str,
                by_partition: dict[int, list[tuple[str, bytes | None]]]) -> None:
    # The idempotent producer keeps each partition's order, so an account's row lands after its others.
    futures = [await producer.send(topic, value, key=key.encode(), partition=partition)
               for partition, pairs in by_partition.items() for key, value in pairs]
    for future in futures:
        await future


def local_account_tables(state_dir: Path) -> list[Path]:
    """The accounts table's RocksDB partitions this host's workers keep ($EXCHANGE_STATE_DIR/workers/...)."""
    workers = state_dir / "workers"
    return sorted(p for p in _dirs(workers.glob(f"{CORE_GROUP}-*/**/accounts-*.db")))


def _dirs(paths: Iterable[Path]) -> Iterable[Path]:
    return (p for p in paths if p.is_dir())
