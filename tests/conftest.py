"""Real Kafka and Cassandra for the tests that need them, started once per session.

By default the session starts throwaway servers on free ports in a fresh state directory and stops
them at the end, whatever the outcome. `EXCHANGE_TEST_STATE_DIR` chooses that directory (the
Makefile sets it, so it can stop the servers even if pytest itself is killed).
`EXCHANGE_TEST_INFRA=running` uses the servers the environment already points at instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from exchange.config import Settings
from exchange.kafka_io import group_coordinator_ready
from infra.local import runner
from infra.local.ports import free_port


def throwaway_settings(state_dir: Path, brokers: int = 1, cassandra_nodes: int = 1) -> Settings:
    """Settings for servers that collide with nothing: own state directory, free ports (the first
    node's; the others share them on their own loopback addresses)."""
    env = Settings.from_env().to_env() | {
        "EXCHANGE_STATE_DIR": str(state_dir),
        # Fewer than the default: every test's markets and workers cover each partition.
        "EXCHANGE_PARTITIONS": "4",
        # The least a broker takes: every kill -9 of a worker in the tests costs this long a wait.
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_BOOTSTRAP": "",
        "KAFKA_BROKERS": str(brokers),
        "CASSANDRA_NODES": str(cassandra_nodes),
        "CASSANDRA_REPLICATION": f"SimpleStrategy:{min(3, cassandra_nodes)}",
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "CASSANDRA_PORT": str(free_port()),
        "CASSANDRA_STORAGE_PORT": str(free_port()),
        "CASSANDRA_JMX_PORT": str(free_port()),
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory):
    """Settings pointing at a real, answering Kafka and Cassandra."""
    if os.environ.get("EXCHANGE_TEST_INFRA") == "running":
        settings = Settings.from_env()
        if not runner.status(settings):
            pytest.fail("EXCHANGE_TEST_INFRA=running, but Kafka or Cassandra does not answer")
        yield settings
        return
    state_dir = os.environ.get("EXCHANGE_TEST_STATE_DIR")
    settings = throwaway_settings(Path(state_dir) if state_dir else tmp_path_factory.mktemp("infra"))
    runner.up(settings, fast_unsafe=True)
    try:
        asyncio.run(group_coordinator_ready(settings))
        yield settings
    finally:
        runner.down(settings)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the three-broker, three-node cluster run last, so its six servers are started
    once and share the machine with no other test."""
    items.sort(key=lambda item: "cluster" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """Settings pointing at a real 3-broker Kafka cluster and 3-node Cassandra ring of its own
    (127.0.0.1-3); `EXCHANGE_TEST_CLUSTER=running` uses the one the environment points at."""
    if os.environ.get("EXCHANGE_TEST_CLUSTER") == "running":
        yield Settings.from_env()
        return
    settings = throwaway_settings(tmp_path_factory.mktemp("cluster"), brokers=3, cassandra_nodes=3)
    started = time.monotonic()
    try:
        runner.up(settings, fast_unsafe=True)
        asyncio.run(group_coordinator_ready(settings))
        print(f"\ncluster of 3 brokers and 3 Cassandra nodes ready in {time.monotonic() - started:.0f}s",
              file=sys.stderr)
        yield settings
    finally:
        runner.down(settings)


@pytest.fixture
async def producer(infra):
    """Puts batches of commands on exchange.commands, as the API does."""
    from exchange.commands import CommandProducer

    commands = CommandProducer(infra)
    await commands.start()
    yield commands
    await commands.stop()


@pytest.fixture
def workers(infra, tmp_path):
    """Worker processes for one test, all stopped at its end."""
    from tests.integration.flow import Workers

    running = Workers(infra, tmp_path / "workers")
    yield running
    running.stop_all()
