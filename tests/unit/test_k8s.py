"""No cluster runs here, so check the Kubernetes manifests against Kubernetes' own schemas and
against the code: commands, settings, ports, probes, metrics and images."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from exchange.cli import build_parser
from exchange.config import VARIABLES, Settings, replication_options
from infra.local.kafka import server_properties
from infra.local.toolchain import CASSANDRA_VERSION, KAFKA_VERSION

K8S = Path(__file__).resolve().parents[2] / "infra" / "k8s"
KUBERNETES_VERSION = "1.31"
EXCHANGE = ("exchange-setup", "worker", "recorder", "api", "ws")


def documents() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def resource(kind: str, name: str) -> dict:
    [found] = [doc for doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def workload(name: str) -> dict:
    [found] = [doc for doc in documents() if doc["metadata"]["name"] == name
               and doc["kind"] in ("Deployment", "StatefulSet", "Job")]
    return found


def container(name: str) -> dict:
    [only] = workload(name)["spec"]["template"]["spec"]["containers"]
    return only


def config() -> dict[str, str]:
    return resource("ConfigMap", "exchange-config")["data"]


@pytest.mark.parametrize("document", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_kubernetes(document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)  # raises on an unknown field


def test_kustomization_lists_every_manifest_and_the_namespace_is_one():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S.glob("*.yaml")
                                                        if p.name != "kustomization.yaml")
    assert {doc["metadata"].get("namespace", doc["metadata"]["name"]) for doc in documents()} == \
        {kustomization["namespace"]}


def settings() -> Settings:
    return Settings.from_env({**config(), "HOME": "/nowhere"}, dotenv="/nowhere/.env")


def env(name: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(name)["env"]}


def pod_names(name: str) -> list[str]:
    """The stable DNS names of a StatefulSet's pods, as pods of the namespace resolve them."""
    stateful = workload(name)
    return [f"{name}-{i}.{stateful['spec']['serviceName']}" for i in range(stateful["spec"]["replicas"])]


def test_the_settings_load_as_production():
    data = config()
    assert set(data) <= set(VARIABLES), "a variable the code does not read"
    loaded = settings()
    assert loaded.is_production and not loaded.faucet
    assert workload("worker")["spec"]["replicas"] <= loaded.partitions  # more would sit idle


@pytest.mark.parametrize("name", ["kafka", "cassandra"])
def test_servers_are_three_pods_with_stable_names_and_a_disruption_budget(name):
    stateful = workload(name)
    assert stateful["kind"] == "StatefulSet" and stateful["spec"]["replicas"] == 3
    service = resource("Service", stateful["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None", "headless: a DNS name per pod"
    assert service["spec"]["publishNotReadyAddresses"], "peers resolve each other before they are ready"
    labels = stateful["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    budget = resource("PodDisruptionBudget", name)
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_kafka_bootstrap_names_every_broker_and_topics_are_replicated_to_survive_one():
    loaded = settings()
    port = resource("Service", "kafka")["spec"]["ports"][0]["port"]
    assert loaded.kafka_bootstrap.split(",") == [f"{pod}:{port}" for pod in pod_names("kafka")]
    brokers = workload("kafka")["spec"]["replicas"]
    assert loaded.kafka_replication_factor == brokers == 3
    assert loaded.kafka_min_insync_replicas == 2
    # A disruption budget's one broker away still leaves min.insync.replicas in sync.
    assert brokers - resource("PodDisruptionBudget", "kafka")["spec"]["maxUnavailable"] >= \
        loaded.kafka_min_insync_replicas


def node_env(ordinal: int) -> dict[str, str]:
    """The broker's variables in pod kafka-<ordinal>: its own and what the command wrapper exports,
    run with bash up to where it would exec the image's entrypoint."""
    script = container("kafka")["command"][-1]
    entrypoint = "exec /etc/kafka/docker/run"
    assert script.rstrip().endswith(entrypoint), "the wrapper ends in the image's own command"
    out = subprocess.run(["bash", "-c", script.replace(entrypoint, "env")], check=True, capture_output=True,
                         text=True, env={**env("kafka"), "HOSTNAME": f"kafka-{ordinal}", "PATH": os.environ["PATH"]})
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def test_each_broker_takes_its_node_id_and_address_from_its_pod_and_every_pod_votes():
    spec = container("kafka")
    assert spec["command"][:2] == ["bash", "-c"]
    assert not re.findall(r"\$\([A-Za-z_]\w*\)", spec["command"][-1]), "Kubernetes would expand $(NAME)"
    assert workload("kafka")["spec"]["podManagementPolicy"] == "Parallel", "a quorum needs its voters up together"
    pods = pod_names("kafka")
    controller_port = next(p["containerPort"] for p in spec["ports"] if p["name"] == "controller")
    client_port = next(p["containerPort"] for p in spec["ports"] if p["name"] == "client")
    bootstrap = settings().kafka_bootstrap.split(",")
    for ordinal, pod in enumerate(pods):
        node = node_env(ordinal)
        assert node["KAFKA_NODE_ID"] == str(ordinal + 1)
        assert node["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{pod}:{client_port}" == f"PLAINTEXT://{bootstrap[ordinal]}"
        assert node["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",") == \
            [f"{i + 1}@{p}:{controller_port}" for i, p in enumerate(pods)]
    cluster_id = env("kafka")["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, "a UUID, as kafka-storage random-uuid makes"


def test_broker_settings_match_the_native_three_broker_cluster():
    """Every setting the local runner gives a cluster of this size, but the node's own addresses
    and the failure-detection timeouts it shortens for loopback (Kafka's defaults here)."""
    brokers = workload("kafka")["spec"]["replicas"]
    native = dict(line.split("=", 1) for line in server_properties(
        Settings.from_env({"HOME": "/x", "KAFKA_BROKERS": str(brokers)}), Path("/d"), 0, brokers).splitlines())
    own = {"node.id", "controller.quorum.voters", "listeners", "advertised.listeners", "log.dirs",
           "broker.session.timeout.ms", "broker.heartbeat.interval.ms"}
    kafka_env = env("kafka")
    for key in sorted(set(native) - own):
        assert kafka_env["KAFKA_" + key.upper().replace(".", "_")] == native[key], key
    loaded = settings()
    assert kafka_env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == kafka_env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] \
        == kafka_env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == str(loaded.kafka_replication_factor)
    assert kafka_env["KAFKA_MIN_INSYNC_REPLICAS"] == kafka_env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] \
        == str(loaded.kafka_min_insync_replicas)
    mounts = [m["mountPath"] for m in container("kafka")["volumeMounts"]]
    log_dir = kafka_env["KAFKA_LOG_DIRS"]
    assert any(log_dir.startswith(mount + "/") for mount in mounts), "below the volume's root (lost+found)"


def test_cassandra_contact_points_are_every_node_and_the_keyspace_survives_one_down():
    loaded = settings()
    assert loaded.cassandra_hosts == pod_names("cassandra")
    assert loaded.cassandra_port == resource("Service", "cassandra")["spec"]["ports"][0]["port"]
    cassandra_env = env("cassandra")
    assert cassandra_env["CASSANDRA_SEEDS"] == pod_names("cassandra")[0]
    assert cassandra_env["CASSANDRA_CLUSTER_NAME"]
    options = replication_options(loaded.cassandra_replication)
    assert options.pop("class") == "NetworkTopologyStrategy"
    assert options == {cassandra_env["CASSANDRA_DC"]: workload("cassandra")["spec"]["replicas"]}
    assert loaded.cassandra_consistency in ("QUORUM", "LOCAL_QUORUM")
    assert container("cassandra")["readinessProbe"]["exec"]["command"][0] == "cqlsh"


def test_server_images_are_the_versions_the_native_runner_uses():
    assert container("kafka")["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert container("cassandra")["image"] == f"cassandra:{CASSANDRA_VERSION}"


@pytest.mark.parametrize("name", EXCHANGE)
def test_every_exchange_container_runs_a_command_the_cli_has_with_the_settings(name):
    spec = container(name)
    assert spec["image"] == "kafka-exchange"  # kustomization.yaml's `images` says which build
    env = {e["name"] for e in spec.get("env", [])}
    referenced = {name for name in env if f"$({name})" in " ".join(spec["args"])}
    assert env - referenced <= set(VARIABLES), "a variable the code does not read"
    args = [arg.replace("$(POD_NAME)", "worker-0") if "POD_NAME" in env else arg for arg in spec["args"]]
    parsed = build_parser().parse_args(args)  # exits (fails) on an unknown command or option
    assert parsed.command == args[0]
    refs = [source.get("configMapRef", source.get("secretRef"))["name"] for source in spec["envFrom"]]
    assert "exchange-config" in refs
    assert ("exchange-secrets" in refs) == (name in ("api", "ws")), "JWT_SECRET goes where tokens are checked"


@pytest.mark.parametrize("name", ["worker", "recorder"])
def test_workers_keep_their_tables_on_a_volume_and_are_scraped_where_they_serve_metrics(name):
    workers = workload(name)
    spec = container(name)
    assert workers["kind"] == "StatefulSet"
    mounts = {m["name"]: m["mountPath"] for m in spec["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in workers["spec"]["volumeClaimTemplates"]}
    assert set(mounts) <= claims
    dockerfile = (K8S.parents[1] / "Dockerfile").read_text()
    assert f"EXCHANGE_STATE_DIR={mounts['state']}" in dockerfile  # where the image keeps the tables
    port = spec["args"][spec["args"].index("--metrics-port") + 1]
    annotations = workers["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == port
    assert [p["containerPort"] for p in spec["ports"]] == [int(port)]
    from streams.health import PATHS
    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert {"/healthz", annotations.get("prometheus.io/path", "/metrics")} <= set(PATHS)


@pytest.mark.parametrize("name", ["api", "ws"])
def test_services_probe_and_scrape_paths_the_process_serves_on_its_port(name):
    from starlette.routing import Route

    spec = container(name)
    port = int(config()["API_PORT" if name == "api" else "WS_PORT"])
    assert [p["containerPort"] for p in spec["ports"]] == [port]
    annotations = workload(name)["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port
    if name == "api":
        from api.app import ROUTES
        paths = {route.path for route in ROUTES if isinstance(route, Route)}
    else:
        from ws.app import create_app
        paths = {route.path for route in create_app(Settings.from_env({"HOME": "/nowhere"})).routes}
    probed = {spec[probe]["httpGet"]["path"] for probe in ("readinessProbe", "livenessProbe")}
    assert probed | {annotations["prometheus.io/path"]} <= paths
    service = resource("Service", name)
    assert service["spec"]["ports"][0]["port"] == port


def test_no_secret_is_committed():
    assert not [doc for doc in documents() if doc["kind"] == "Secret"]


def test_the_operators_alert_rules_are_the_prometheus_ones():
    """infra/k8s/monitoring: alerts.yml as a PrometheusRule, for clusters with the Prometheus Operator."""
    rules = yaml.safe_load((K8S.parent / "prometheus" / "alerts.yml").read_text())
    [rule] = list(yaml.safe_load_all((K8S / "monitoring" / "prometheus-rule.yaml").read_text()))
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"]["groups"] == rules["groups"], "run `make k8s-rules`"
    kustomization = yaml.safe_load((K8S / "monitoring" / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["prometheus-rule.yaml"]
