"""The exchange on a 3-broker Kafka cluster and a 3-node Cassandra ring rides through losing any one
of them, under REST load from several users through two API processes and two workers.

One at a time, while users trade: the broker leading `exchange.commands` partition 0 is killed -9
(another must lead it within 30 s) and restarted 20 s after the kill; every broker is restarted in
turn (a rolling restart); a Cassandra node is killed -9 and stays down 60 s; a worker and an API
process are killed -9. Clients retry as clients do (the same client_order_id, the other API
process). After cancel-all, every promise is checked as
in test_faults.py: each accepted order ended with exactly its fills, nothing is doubled, money is
conserved with no hold left, and REST balances and fills equal the topics. Clients never see a 5xx
other than a 503.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from exchange.kafka_io import topic_health
from exchange.up import setup
from infra.local import runner
from infra.local.cassandra import CassandraNode
from infra.local.kafka import KafkaNode
from infra.local.ports import free_port
from infra.local.toolchain import find_java
from schemas.topics import COMMANDS
from tests.integration.flow import session_over_s

from .stack import Stack
from .test_faults import Load, Trader, own_market, settle_and_check

pytestmark = pytest.mark.runs

USERS = 6
CASSANDRA_DOWN_S = 60


@pytest.fixture(scope="module")
def cluster_stack(cluster, tmp_path_factory):
    # Every node up, whatever an earlier test left behind; then as an operator starts it: `exchange
    # setup` (topics, schema, and the demo markets the stack's warm-up waits for), then the processes.
    runner.up(cluster, fast_unsafe=True)
    setup(cluster, demo_markets=True)
    running = Stack(cluster, tmp_path_factory.mktemp("cluster-stack"), free_port(), free_port(),
                    {"EXCHANGE_FAUCET": "on"})
    try:
        running.start_all()
        running.start("worker-2", "worker", "--name", "e2e-2", "--loglevel", "info")
        yield running
    finally:
        running.stop_all()


def kafka_nodes(settings) -> list[KafkaNode]:
    return [n for n in runner.nodes(settings) if isinstance(n, KafkaNode)]


async def leader_of(settings, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return next(p["leader"] for p in described["partitions"] if p["partition"] == partition)


async def new_leader(settings, topic: str, partition: int, dead: int, timeout: float = 30.0) -> int:
    """The partition's leader once it is not the dead broker: the controller fences a broker killed
    -9 after its session timeout (4 s on the local cluster), then elects an in-sync replica."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            leader = await leader_of(settings, topic, partition)
        except Exception:  # noqa: BLE001 - metadata from a broker that is itself catching up
            leader = dead
        if leader not in (dead, -1):
            return leader
        assert time.monotonic() < deadline, f"{topic}[{partition}] still led by the dead broker after {timeout:.0f}s"
        await asyncio.sleep(0.5)


async def fully_replicated(settings, timeout: float = 180.0) -> float:
    """Seconds until every partition of every topic of the exchange (`exchange topics list`'s) has
    all its replicas in sync again."""
    started = time.monotonic()
    while True:
        try:
            lagging = [t.name for t in await topic_health(settings) if t.under_replicated]
        except Exception:  # noqa: BLE001 - a broker coming back may refuse a request or two
            lagging = ["(no answer)"]
        if not lagging:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"still under-replicated after {timeout:.0f}s: {lagging[:5]}"
        await asyncio.sleep(1.0)


async def until_answers(node, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(node.answers):
        assert time.monotonic() < deadline, f"{node.name} did not answer within {timeout:.0f}s"
        await asyncio.sleep(1.0)


@pytest.mark.timeout(1800)
async def test_losing_a_broker_a_node_a_worker_or_an_api_process_loses_nothing(cluster, cluster_stack, capsys):
    stack = cluster_stack
    second_api = stack.start_api("api-2")
    market, assets = await own_market(cluster)
    apis = [stack.base_url, second_api]
    traders = [Trader(f"cluster{n}", apis[n % 2:] + apis[:n % 2], market) for n in range(USERS)]
    await asyncio.gather(*(t.sign_up() for t in traders))
    load = Load(traders)
    faults: dict[str, str] = {}
    java = find_java()

    started = time.monotonic()
    try:
        await asyncio.sleep(5)
        # 1. The leader of exchange.commands partition 0, killed -9, back after 20 s.
        leader = await leader_of(cluster, COMMANDS.name, 0)
        [node] = [n for n in kafka_nodes(cluster) if n.index + 1 == leader]
        os.kill(node.process.pid(), signal.SIGKILL)
        killed_at = time.monotonic()
        moved_to = await new_leader(cluster, COMMANDS.name, 0, leader)
        moved_after = time.monotonic() - killed_at
        await asyncio.sleep(max(0.0, 20 - moved_after))
        node.start(java)
        await until_answers(node)
        caught_up = await fully_replicated(cluster)
        faults["leader kill -9"] = (f"broker {leader}, partition 0 led by {moved_to} after {moved_after:.1f}s; "
                                    f"in sync again {time.monotonic() - killed_at:.0f}s after the kill "
                                    f"({caught_up:.0f}s after the restart)")
        load.check()
        # 2. A rolling restart: each broker stopped (a controlled shutdown) and started in turn.
        rolling = time.monotonic()
        for node in kafka_nodes(cluster):
            assert node.process.stop()
            node.start(java)
            await until_answers(node)
            await fully_replicated(cluster)
            load.check()
        faults["rolling restart"] = f"3 brokers in {time.monotonic() - rolling:.0f}s"
        # 3. A Cassandra node killed -9, down for 60 s, then started again.
        [cassandra] = [n for n in runner.nodes(cluster) if isinstance(n, CassandraNode) and n.index == 2]
        os.kill(cassandra.process.pid(), signal.SIGKILL)
        await asyncio.sleep(CASSANDRA_DOWN_S)
        cassandra.start(java)
        back = time.monotonic()
        await until_answers(cassandra)
        faults["Cassandra node kill -9"] = (f"node 3 down {CASSANDRA_DOWN_S}s, answering "
                                            f"{time.monotonic() - back:.0f}s after its restart")
        load.check()
        # 4. A worker and an API process killed -9; a supervisor restarts them.
        stack.kill("worker-2")
        stack.kill("api-2")
        stack.start("api-2")
        await asyncio.sleep(session_over_s(cluster))
        stack.start("worker-2")
        faults["worker and API kill -9"] = "restarted"
        await asyncio.sleep(5)
        load.check()
    finally:
        await load.stop()
    load.check()
    loaded = time.monotonic() - started
    recovery_started = time.monotonic()
    figures = await settle_and_check(cluster, stack, traders, market, assets)
    retries = sum((t.retries for t in traders), Counter())
    statuses = sum((t.statuses for t in traders), Counter())
    server_errors = {code: n for code, n in retries.items() if isinstance(code, int) and code != 503}
    assert not server_errors, f"clients saw server errors: {server_errors}"
    with capsys.disabled():
        print(f"\ncluster fault run: {figures['orders']} orders accepted, {figures['trades']} trades in "
              f"{loaded:.0f}s of load; faults: {faults}; answers {dict(statuses)}; client retries {dict(retries)}; "
              f"settled and checked in {time.monotonic() - recovery_started:.0f}s")
