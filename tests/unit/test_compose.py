"""The Docker compose file cannot run here, so check that it agrees with the code."""

from __future__ import annotations

from pathlib import Path

import yaml

from exchange.config import Settings
from infra.local.kafka import server_properties
from infra.local.toolchain import CASSANDRA_VERSION, KAFKA_VERSION

COMPOSE = Path(__file__).resolve().parents[2] / "infra" / "docker-compose.kafka.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def published(service: dict) -> set[tuple[str, int]]:
    """(host address, host port) of each published port."""
    out = set()
    for mapping in service["ports"]:
        host, host_port, _container = mapping.split(":")
        out.add((host, int(host_port)))
    return out


def test_images_are_the_versions_the_native_runner_uses():
    services = compose()["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert services["cassandra"]["image"] == f"cassandra:{CASSANDRA_VERSION}"


def test_ports_are_the_ones_the_code_connects_to_by_default():
    defaults = Settings.from_env({"HOME": "/nowhere"})
    services = compose()["services"]
    assert published(services["kafka"]) == {(defaults.kafka_host, defaults.kafka_port)}
    assert published(services["cassandra"]) == {(defaults.cassandra_host, defaults.cassandra_port)}
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"PLAINTEXT://{defaults.kafka_bootstrap}" in advertised.split(",")


def test_kafka_settings_match_the_native_broker():
    """Each broker setting the native runner relies on is set the same way in the container."""
    native = dict(
        line.split("=", 1) for line in server_properties(Settings.from_env({"HOME": "/x"}), Path("/d")).splitlines()
    )
    container = compose()["services"]["kafka"]["environment"]
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "group.initial.rebalance.delay.ms",
                "auto.create.topics.enable", "process.roles"):
        env_name = "KAFKA_" + key.upper().replace(".", "_")
        assert str(container[env_name]) == native[key], key
