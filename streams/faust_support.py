"""What every Faust app of the exchange needs: Avro tables, raw input topics, safe delivery.

Shared by the core worker (worker.py: accounts and matching) and the read worker
(read_worker.py: marketdata and the recorder).
"""

from __future__ import annotations

import logging

import faust
from mode import OneForOneSupervisor

from exchange import fetch_wait
from exchange.kafka_io import Replication
from schemas.codec import codec
from schemas.topics import REPLIES

from . import faust_internals
from .outputs import Outgoing
from .record_batches import send_all
from .serde import UTF8

log = logging.getLogger("exchange.faust_support")


# How long the broker may hold a fetch open waiting for data. Faust fixes it at 1,500 ms, and
# aiokafka sends a partition's next fetch only after the one in flight returns: a partition left
# out of the open fetch (because it still had records buffered) waited up to 1.5 s per hop,
# which was the order flow's second of latency at low rates.
FETCH_MAX_WAIT_MS = 10


def new_app(settings, app_id: str, name: str, replicas: Replication) -> faust.App:
    """A Faust app as every worker runs it: RocksDB tables under the worker's own directory, and
    the topics Faust creates (the tables' changelogs) replicated as the exchange's own are
    (`replicas`, resolved once at process start by streams/run.py)."""
    faust_internals.check_version()
    faust_internals.shorten_fetch_wait(FETCH_MAX_WAIT_MS)
    faust_internals.idempotent_producer()
    fetch_wait.install()  # the short wait above only while records flow
    datadir = settings.state_dir / "workers" / f"{app_id}-{name}"
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        app_id,
        broker=[f"kafka://{address}" for address in settings.kafka_bootstrap.split(",")],
        store="rocksdb://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        table_standby_replicas=1,  # another worker keeps a warm copy of each table partition
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,  # with min.insync.replicas: a send succeeds once enough replicas have it
        topic_replication_factor=replicas.factor,
        topic_disable_leader=True,
        # A worker that is gone (kill -9, lost host) loses its partitions to the others after
        # this long without heartbeats. A heartbeat is also how a member learns that a rebalance
        # has begun (a worker joining or leaving): frequent ones shorten every rebalance's pause.
        broker_session_timeout=settings.kafka_session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.kafka_session_timeout_ms / 10000,
        web_enabled=False,
        stream_wait_empty=False,
    )
    never_commit_unread(app)
    return app


def never_commit_unread(app: faust.App) -> None:
    """Stop Faust from recording offset "gaps", which cost a worker dearly and can lose input.

    When its fetcher sees an offset jump, faust-streaming 0.15 records the skipped offsets as a
    "gap" and, once messages after it are acknowledged, commits over it as if they had been.
    - Input topics: there are no missing offsets, so a jump only means messages were lost on
      the way (Faust drops a fetched batch when the group generation changes; after a seek back,
      messages fetched before it still arrive). Committed, they would never be read again.
      Without the gap record the committed offset stays below them, and input_order.py reads
      them again.
    - Changelog topics: compaction leaves gaps everywhere, but recovery and standby reading
      never acknowledge a message, so the gaps are never used, only kept: each new one re-merges
      an interval tree of all the earlier ones. A worker restoring from an empty disk spent three
      quarters of its time there and read about 200 changelog records a second.
    """

    async def no_gap_record(tp, offset_from: int, offset_to: int) -> None:
        if not tp.topic.endswith("-changelog"):
            log.debug("%s[%s]: offsets %s..%s skipped by the fetcher; they stay uncommitted",
                      tp.topic, tp.partition, offset_from, offset_to - 1)

    faust_internals.replace_gap_record(app, no_gap_record)


# Changelog topics roll a segment every 10 minutes and compact once a tenth is stale: Kafka
# never compacts the active segment, and with the default 7-day segments a worker with empty
# local state replayed every row written that week (12 minutes after a day of benchmarks).
CHANGELOG_CONFIG = {"segment.ms": str(10 * 60 * 1000), "min.cleanable.dirty.ratio": "0.1"}


def table(app: faust.App, name: str, partitions: int, replicas: Replication) -> faust.Table:
    """A RocksDB-backed table whose changelog compacts promptly and takes min.insync.replicas (its
    replication factor is the app's)."""
    return faust.Table(app, name=name, partitions=partitions,
                       extra_topic_configs=CHANGELOG_CONFIG | {"min.insync.replicas": str(replicas.min_insync)})


def register(app: faust.App, table, values):
    """Give a table Avro values and UTF-8 keys, then register it.

    Faust derives serializers from model types only, and registering a table builds its
    changelog topic with whatever serializers it has then, so they are set before.
    """
    table.key_serializer = UTF8
    table.value_serializer = values
    # RocksDB stores take a changelog message's bytes as they are (see TableWriter), so decoding
    # them while restoring or keeping a standby copy would be wasted work.
    table.changelog_topic = table.changelog_topic.derive(key_serializer="raw", value_serializer="raw")
    return app.tables.add(table)


def raw_topic(app: faust.App, *names: str) -> faust.TopicT:
    # Decoded by the agents themselves, so undecodable input can go to the dead-letter topic.
    return app.topic(*names, key_serializer="raw", value_serializer="raw")


async def deliver(app: faust.App, messages: list[Outgoing]) -> None:
    """Send and wait until Kafka has every message; each partition's in the order given.

    Replies go last, once Kafka has everything else: an API process answers its client when the
    reply arrives, and what the client reads next must find the rest of the take's outputs (the
    order updates, trades, settlements, balances) on their topics already, or a fresh read
    (api/fresh_reads.py) would not know to wait for them."""
    await _deliver(app, [m for m in messages if m.topic is not REPLIES])
    await _deliver(app, [m for m in messages if m.topic is REPLIES])


async def _deliver(app: faust.App, messages: list[Outgoing]) -> None:
    by_partition: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
    for m in messages:
        by_partition.setdefault((m.topic.name, m.partition), []).append(
            (m.key.encode(), codec.encode(m.topic.record, m.record)))
    producer = faust_internals.aiokafka_producer(app)
    sent = [await send_all(producer, topic, partition, pairs) for (topic, partition), pairs in by_partition.items()]
    for batches in sent:
        await batches.last_offset()


class RebalanceSupervisor(OneForOneSupervisor):
    """Restarts an agent's actors, as Faust's default supervisor does, without exiting the worker
    when a rebalance restarts several at once.

    Faust cancels the actors of isolated partitions at every rebalance and hands each to the
    supervisor as a crash. It builds the supervisor with `max_restarts=100, over=1.0`, and mode's
    token bucket holds `over` tokens (one), refilled at 100 a second: two actors restarted within
    10 ms of each other (every rebalance of a worker with two partitions or more) exceeded it, and
    the worker exited with SystemExit(1). Here the bucket holds RESTART_BURST restarts, refilled at
    RESTARTS_PER_SECOND: a rebalance of every partition fits, an actor crashing in a loop still
    stops the worker within a minute."""

    RESTART_BURST = 64
    RESTARTS_PER_SECOND = 1.0

    def __init__(self, *services, max_restarts=None, over=None, **kwargs) -> None:
        super().__init__(*services, max_restarts=self.RESTARTS_PER_SECOND, over=self.RESTART_BURST, **kwargs)
