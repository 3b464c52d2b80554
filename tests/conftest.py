"""Real Kafka and Cassandra for the tests that need them, started once per session.

By default the session starts throwaway servers on free ports in a fresh state directory and stops
them at the end, whatever the outcome. `EXCHANGE_TEST_STATE_DIR` chooses that directory (the
Makefile sets it, so it can stop the servers even if pytest itself is killed).
`EXCHANGE_TEST_INFRA=running` uses the servers the environment already points at instead.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from exchange.config import Settings
from exchange.kafka_io import group_coordinator_ready
from infra.local import runner
from infra.local.ports import free_port


def throwaway_settings(state_dir: Path) -> Settings:
    """Settings for servers that collide with nothing: own state directory, free ports."""
    env = Settings.from_env().to_env() | {
        "EXCHANGE_STATE_DIR": str(state_dir),
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
