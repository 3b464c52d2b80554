"""The Docker compose file cannot run here, so check that it agrees with the code, and its Kafka
cluster with the one the Kubernetes manifests describe: three brokers, topics at 3 replicas."""

from __future__ import annotations

from pathlib import Path

import yaml

from exchange.config import VARIABLES, Settings, replication_options
from infra.local.kafka import server_properties
from infra.local.toolchain import CASSANDRA_VERSION, KAFKA_VERSION

COMPOSE = Path(__file__).resolve().parents[2] / "infra" / "docker-compose.kafka.yml"
K8S_KAFKA = COMPOSE.parent / "k8s" / "kafka.yaml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def brokers() -> dict[str, dict]:
    """The Kafka services, kafka-1, kafka-2, ... in order."""
    services = compose()["services"]
    return {name: services[name] for name in sorted(services) if services[name]["image"].startswith("apache/kafka:")}


def published(service: dict) -> set[tuple[str, int]]:
    """(host address, host port) of each published port."""
    out = set()
    for mapping in service["ports"]:
        host, host_port, _container = mapping.split(":")
        out.add((host, int(host_port)))
    return out


def listeners(value: str) -> dict[str, str]:
    """`PLAINTEXT://h:1,INTERNAL://k:2` -> {"PLAINTEXT": "h:1", "INTERNAL": "k:2"}."""
    return dict(part.split("://", 1) for part in value.split(","))


def test_images_are_the_versions_the_native_runner_uses():
    services = compose()["services"]
    assert list(brokers()) == ["kafka-1", "kafka-2", "kafka-3"]
    assert {b["image"] for b in brokers().values()} == {f"apache/kafka:{KAFKA_VERSION}"}
    assert services["cassandra"]["image"] == f"cassandra:{CASSANDRA_VERSION}"


def test_ports_are_the_ones_the_code_connects_to_by_default():
    defaults = Settings.from_env({"HOME": "/nowhere"})
    services = compose()["services"]
    first = brokers()["kafka-1"]
    assert published(first) == {(defaults.kafka_host, defaults.kafka_port)}
    assert published(services["cassandra"]) == {(defaults.cassandra_host, defaults.cassandra_port)}
    assert f"PLAINTEXT://{defaults.kafka_bootstrap}" in first["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_each_broker_advertises_its_own_host_port_and_an_internal_address():
    ports = set()
    for name, broker in brokers().items():
        [(host, port)] = published(broker)
        [mapping] = broker["ports"]
        assert int(mapping.split(":")[2]) == port, "listens on the port it advertises to the host"
        environment = broker["environment"]
        advertised = listeners(environment["KAFKA_ADVERTISED_LISTENERS"])
        assert advertised == {"PLAINTEXT": f"{host}:{port}", "INTERNAL": f"{name}:29092"}
        bound = listeners(environment["KAFKA_LISTENERS"])
        assert bound["PLAINTEXT"] == f"0.0.0.0:{port}" and bound["INTERNAL"] == "0.0.0.0:29092"
        assert environment["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
        ports.add(port)
    assert len(ports) == len(brokers()) and {host for b in brokers().values() for host, _ in published(b)} == \
        {"127.0.0.1"}


def test_the_brokers_are_one_cluster_every_one_a_voter():
    names = list(brokers())
    environments = [b["environment"] for b in brokers().values()]
    assert len({e["CLUSTER_ID"] for e in environments}) == 1
    voters = ",".join(f"{i + 1}@{name}:9093" for i, name in enumerate(names))
    for index, environment in enumerate(environments):
        assert environment["KAFKA_NODE_ID"] == str(index + 1)
        assert environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert listeners(environment["KAFKA_LISTENERS"])["CONTROLLER"] == "0.0.0.0:9093"
    volumes = [b["volumes"][0].split(":") for b in brokers().values()]
    assert len({volume for volume, _ in volumes}) == len(names), "each broker its own volume"
    for (_volume, mount), environment in zip(volumes, environments):
        assert environment["KAFKA_LOG_DIRS"] == mount  # not the image's default, under /tmp


def test_kafka_settings_match_the_native_cluster():
    """Each broker setting the native runner gives a cluster of this size is set the same way in
    the containers, but the node's own addresses and listener names (the containers add INTERNAL)."""
    count = len(brokers())
    own = {"node.id", "controller.quorum.voters", "listeners", "advertised.listeners", "log.dirs",
           "inter.broker.listener.name", "listener.security.protocol.map"}
    for index, broker in enumerate(brokers().values()):
        native = dict(line.split("=", 1) for line in server_properties(
            Settings.from_env({"HOME": "/x", "KAFKA_BROKERS": str(count)}), Path("/d"), index, count).splitlines())
        for key in sorted(set(native) - own):
            env_name = "KAFKA_" + key.upper().replace(".", "_")
            assert str(broker["environment"][env_name]) == native[key], key


def test_kafka_is_replicated_as_on_kubernetes():
    """Where both describe the production layout they agree: as many brokers, the same replication."""
    [stateful] = [doc for doc in yaml.safe_load_all(K8S_KAFKA.read_text()) if doc and doc["kind"] == "StatefulSet"]
    k8s_env = {e["name"]: e["value"] for e in stateful["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert len(brokers()) == stateful["spec"]["replicas"] == 3
    keys = ("KAFKA_PROCESS_ROLES", "KAFKA_DEFAULT_REPLICATION_FACTOR", "KAFKA_MIN_INSYNC_REPLICAS",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE",
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS")
    for broker in brokers().values():
        assert {k: broker["environment"][k] for k in keys} == {k: k8s_env[k] for k in keys}


# --- the exchange's own services ---------------------------------------------------------------

REPO = COMPOSE.parents[1]
EXCHANGE_SERVICES = ("setup", "worker", "recorder", "api", "ws")


def test_every_exchange_service_runs_a_command_the_cli_has():
    from exchange.cli import build_parser

    services = compose()["services"]
    for name in EXCHANGE_SERVICES:
        args = build_parser().parse_args(services[name]["command"])  # exits (fails) on an unknown command
        assert args.command == services[name]["command"][0]


def test_every_exchange_service_reads_settings_the_code_knows_naming_every_broker():
    services = compose()["services"]
    internal = [listeners(b["environment"]["KAFKA_ADVERTISED_LISTENERS"])["INTERNAL"] for b in brokers().values()]
    for name in EXCHANGE_SERVICES:
        env = services[name]["environment"]
        assert set(env) <= set(VARIABLES), "a variable the code does not read"
        settings = Settings.from_env({**env, "HOME": "/nowhere"}, dotenv="/nowhere/.env")
        assert settings.kafka_bootstrap.split(",") == internal, "every broker, on its internal listener"
        assert settings.kafka_replication_factor == len(brokers())
        for broker in brokers().values():
            assert str(settings.kafka_min_insync_replicas) == broker["environment"]["KAFKA_MIN_INSYNC_REPLICAS"]
        assert settings.cassandra_hosts == ["cassandra"]
        # One Cassandra node: a keyspace asking for more replicas could not be written.
        assert replication_options(settings.cassandra_replication)["replication_factor"] == 1
    waits_for = services["setup"]["depends_on"]
    assert {name for name, when in waits_for.items() if when == {"condition": "service_healthy"}} == \
        {*brokers(), "cassandra"}


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
