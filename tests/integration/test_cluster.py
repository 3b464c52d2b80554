"""A local cluster of 3 Kafka brokers and 3 Cassandra nodes: everything the exchange creates is
replicated, and losing a broker loses no acknowledged write."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cassandra import ConsistencyLevel

from exchange import db
from exchange.config import Settings
from exchange.kafka_io import (
    Replication,
    TopicHealth,
    ensure_topics,
    group_coordinator_ready,
    publish,
    read_compacted,
    replication,
    topic_health,
)
from exchange.reference import make_asset
from exchange.up import setup
from infra.local import runner
from infra.local.kafka import KafkaNode
from schemas.topics import ASSETS, CATALOGUE
from streams.worker import APP_ID
from tests.conftest import throwaway_settings
from tests.integration.flow import REPO, Workers

pytestmark = pytest.mark.runs

SCRATCH = "cluster-acks-all"


def topics_list(settings) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exchange.cli", "topics", "list"], cwd=REPO,
                          env=os.environ | settings.to_env(), capture_output=True, text=True, timeout=120)


async def health(settings) -> dict[str, TopicHealth]:
    return {t.name: t for t in await topic_health(settings)}


async def until(check, timeout: float, what: str, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s"
        await asyncio.sleep(every)


def test_setup_replicates_topics_and_keyspace(cluster):
    assert cluster.kafka_bootstrap.count(",") == 2 and len(cluster.cassandra_hosts) == 3
    setup(cluster, demo_markets=False)
    topics = asyncio.run(health(cluster))
    for topic in CATALOGUE:
        assert (topics[topic.name].replication, topics[topic.name].min_insync) == (3, "2"), topics[topic.name]
    assert topics["__consumer_offsets"].replication == 3
    listed = topics_list(cluster)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    connection = db.cluster(cluster)
    try:
        session = connection.connect()
        assert db.keyspace_replication(session, cluster.cassandra_keyspace)["replication_factor"] == "3"
        assert len(connection.metadata.all_hosts()) == 3
        default = connection.profile_manager.default
        assert default.consistency_level == ConsistencyLevel.QUORUM
        assert default.serial_consistency_level == ConsistencyLevel.SERIAL
    finally:
        connection.shutdown()


def test_a_worker_creates_replicated_changelogs(cluster, tmp_path):
    workers = Workers(cluster, tmp_path / "workers")
    workers.start("1")
    try:
        async def changelog():
            workers.check_alive()
            return (await health(cluster)).get(f"{APP_ID}-accounts-changelog")

        found = asyncio.run(until(changelog, 240, "the worker created its changelog topic", every=2))
        assert (found.replication, found.min_insync) == (3, "2"), found
    finally:
        workers.stop_all()


async def _produce(settings, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                request_timeout_ms=30_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(SCRATCH, value, partition=0), 60)
    finally:
        await producer.stop()


async def _scratch_topic(settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if SCRATCH not in await admin.list_topics():
            await admin.create_topics([NewTopic(SCRATCH, 3, 3, topic_configs={"min.insync.replicas": "2"})])
    finally:
        await admin.close()


def test_a_killed_broker_loses_no_acknowledged_write(cluster):
    asyncio.run(_scratch_topic(cluster))
    asyncio.run(_produce(cluster, b"before"))
    victim = KafkaNode(cluster, index=2)
    pid = victim.process.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    try:
        asyncio.run(_produce(cluster, b"with a broker down"))  # acks=all: two in-sync replicas suffice
        print(f"\nproduce with a broker killed took {time.monotonic() - killed:.1f}s", file=sys.stderr)

        async def under_replicated():
            # Asked at once after the kill, while metadata still names the dead broker.
            return sum(t.under_replicated for t in (await health(cluster)).values())

        asyncio.run(until(under_replicated, 60, "partitions reported under-replicated"))
        listed = topics_list(cluster)
        assert listed.returncode == 1, listed.stdout + listed.stderr
        # Topics created while a broker is down still get the cluster's replication.
        assert asyncio.run(replication(cluster)) == Replication(3, 2)
    finally:
        restarted = time.monotonic()
        runner.up(cluster, fast_unsafe=True)

    async def all_in_sync():
        topics = (await health(cluster)).values()
        return not any(t.under_replicated or t.offline for t in topics)

    asyncio.run(until(all_in_sync, 180, "every partition back in sync"))
    print(f"\nbroker back and every partition in sync after {time.monotonic() - restarted:.1f}s", file=sys.stderr)
    assert topics_list(cluster).returncode == 0


def test_a_single_broker_install_grows_to_three_and_its_topics_follow(tmp_path):
    """`infra up --brokers 3` on a state directory that ran one broker adds two (brokers only), and
    `topics replicate` raises every existing topic, __consumer_offsets included, to 3 replicas."""
    single = throwaway_settings(tmp_path / "state")
    env = {k: v for k, v in (os.environ | single.to_env()).items() if k not in ("KAFKA_BROKERS", "CASSANDRA_NODES")}

    def exchange(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "exchange.cli", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)

    try:
        runner.up(single, fast_unsafe=True)
        asyncio.run(group_coordinator_ready(single))
        asyncio.run(ensure_topics(single))
        asyncio.run(publish(single, ASSETS, "GROWN", make_asset("GROWN", 8, 0)))
        assert {t.replication for t in asyncio.run(topic_health(single))} == {1}

        started = time.monotonic()
        grown = exchange("infra", "up", "--brokers", "3", "--fast-unsafe")
        assert grown.returncode == 0, grown.stderr
        assert "kafka-3: ready" in grown.stderr
        replicated = exchange("topics", "replicate")
        assert replicated.returncode == 0, replicated.stdout + replicated.stderr
        print(f"\ngrown to 3 brokers and replicated in {time.monotonic() - started:.0f}s", file=sys.stderr)

        settings = Settings.from_env(env)
        assert settings.kafka_bootstrap.count(",") == 2
        topics = asyncio.run(health(settings))
        assert "__consumer_offsets" in topics
        for topic in topics.values():
            assert (topic.replication, topic.min_insync, topic.under_replicated) == (3, "2", 0), topic
        assert "GROWN" in asyncio.run(read_compacted(settings, ASSETS))
        shrink = exchange("infra", "up", "--brokers", "1")
        assert shrink.returncode == 2 and "cannot change to 1" in shrink.stderr
    finally:
        runner.down(Settings.from_env(env))


def test_processes_starting_together_on_a_fresh_ring_all_get_the_schema(cluster):
    """The API, the recorder and `exchange setup` each migrate at start. On a ring, a keyspace one
    of them just created may not have reached every node when another, whose `IF NOT EXISTS` did
    nothing, uses it on every node's connections: each must wait for the schema, not fail."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    fresh = dataclasses.replace(cluster, cassandra_keyspace=f"race_{os.getpid()}_{int(time.time())}")

    def start_like_a_process(first_node: int) -> list[str]:
        hosts = fresh.cassandra_hosts[first_node:] + fresh.cassandra_hosts[:first_node]
        connection = db.cluster(dataclasses.replace(fresh, cassandra_host=",".join(hosts)))
        try:
            return db.migrate(connection.connect(), fresh)
        finally:
            connection.shutdown()

    with ThreadPoolExecutor(3) as pool:
        applied = list(pool.map(start_like_a_process, range(3)))
    assert all(files == applied[0] for files in applied) and applied[0]
