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


# --- the exchange's own services ---------------------------------------------------------------

REPO = COMPOSE.parents[1]
EXCHANGE_SERVICES = ("setup", "worker", "recorder", "api", "ws")


def test_every_exchange_service_runs_a_command_the_cli_has():
    from exchange.cli import build_parser

    services = compose()["services"]
    for name in EXCHANGE_SERVICES:
        args = build_parser().parse_args(services[name]["command"])  # exits (fails) on an unknown command
        assert args.command == services[name]["command"][0]
        env = services[name]["environment"]
        assert (env["KAFKA_HOST"], env["KAFKA_PORT"]) == ("kafka", "29092"), "the broker's internal listener"
        assert "INTERNAL://kafka:29092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_prometheus_in_compose_scrapes_the_ports_the_services_serve_metrics_on():
    services = compose()["services"]
    scrape = yaml.safe_load((REPO / "infra" / "prometheus" / "prometheus.compose.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in scrape["scrape_configs"]}
    for name in ("worker", "recorder"):
        command = services[name]["command"]
        assert targets[f"exchange-{name}"] == f"{name}:{command[command.index('--metrics-port') + 1]}"
    defaults = Settings.from_env({"HOME": "/nowhere"})
    assert targets["exchange-api"] == f"api:{defaults.api_port}"
    assert targets["exchange-ws"] == f"ws:{defaults.ws_port}"


def test_the_native_scrape_config_matches_what_exchange_up_starts():
    from exchange.up import RECORDER_METRICS_PORT, WORKER_METRICS_PORT

    scrape = yaml.safe_load((REPO / "infra" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in scrape["scrape_configs"]}
    defaults = Settings.from_env({"HOME": "/nowhere"})
    assert targets == {"exchange-api": f"127.0.0.1:{defaults.api_port}", "exchange-ws": f"127.0.0.1:{defaults.ws_port}",
                       "exchange-worker": f"127.0.0.1:{WORKER_METRICS_PORT + 1}",
                       "exchange-recorder": f"127.0.0.1:{RECORDER_METRICS_PORT + 1}"}


def test_the_image_contains_every_package_the_project_installs():
    import tomllib

    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {line.split()[1] for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    assert {p.rstrip("*") for p in packages} <= copied
