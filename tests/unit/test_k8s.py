"""No cluster runs here, so check the Kubernetes manifests against Kubernetes' own schemas and
against the code: commands, settings, ports, probes, metrics and images."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from exchange.cli import build_parser
from exchange.config import VARIABLES, Settings
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


def test_the_settings_load_as_production_and_point_at_the_services():
    data = config()
    assert set(data) <= set(VARIABLES), "a variable the code does not read"
    settings = Settings.from_env({**data, "HOME": "/nowhere"}, dotenv="/nowhere/.env")
    assert settings.is_production and not settings.faucet
    kafka_port = resource("Service", "kafka")["spec"]["ports"][0]["port"]
    assert (settings.kafka_host, settings.kafka_port) == ("kafka", kafka_port)
    kafka_env = {e["name"]: e["value"] for e in container("kafka")["env"]}
    assert f"PLAINTEXT://{settings.kafka_bootstrap}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    cassandra_port = resource("Service", "cassandra")["spec"]["ports"][0]["port"]
    assert (settings.cassandra_host, settings.cassandra_port) == ("cassandra", cassandra_port)
    assert workload("worker")["spec"]["replicas"] <= settings.partitions  # more would sit idle


def test_server_images_are_the_versions_the_native_runner_uses():
    assert container("kafka")["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert container("cassandra")["image"] == f"cassandra:{CASSANDRA_VERSION}"


@pytest.mark.parametrize("name", EXCHANGE)
def test_every_exchange_container_runs_a_command_the_cli_has_with_the_settings(name):
    spec = container(name)
    assert spec["image"] == "kafka-exchange"  # kustomization.yaml's `images` says which build
    env = {e["name"] for e in spec.get("env", [])}
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
