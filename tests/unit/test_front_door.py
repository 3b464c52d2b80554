"""The front door (Traefik in the Compose stack, an Ingress on Kubernetes) sends the hub's paths to
the hub and everything else to the API, and the page behind it finds the hub at its own origin."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import yaml
from starlette.testclient import TestClient

from api.app import ROUTES as API_ROUTES
from api.app import create_app
from exchange.config import Settings
from exchange.logs import JsonFormatter
from ws.app import ROUTES as HUB_ROUTES

INFRA = Path(__file__).resolve().parents[2] / "infra"


def hub_prefixes_of(rule: str) -> list[str]:
    return re.findall(r"PathPrefix\(`([^`]+)`\)", rule)


def to_hub(path: str, prefixes: list[str]) -> bool:
    return any(path.startswith(prefix) for prefix in prefixes)


def paths(routes) -> list[str]:
    return [getattr(route, "path", "") for route in routes if getattr(route, "path", "")]


def test_traefik_sends_every_hub_path_to_the_hub_and_every_api_path_to_the_api():
    routes = yaml.safe_load((INFRA / "traefik" / "routes.yml").read_text())["http"]
    hub = hub_prefixes_of(routes["routers"]["hub"]["rule"])
    assert routes["routers"]["hub-tls"]["rule"] == routes["routers"]["hub"]["rule"]
    assert all(to_hub(path, hub) for path in paths(HUB_ROUTES) if path.startswith(("/ws", "/stream")))
    assert not [path for path in paths(API_ROUTES) if to_hub(path, hub)]
    assert routes["routers"]["hub"]["priority"] > routes["routers"]["rest"]["priority"]
    compose = yaml.safe_load((INFRA / "docker-compose.kafka.yml").read_text())["services"]
    servers = {name: service["loadBalancer"]["servers"][0]["url"] for name, service in routes["services"].items()}
    assert servers == {"hub": "http://ws:8081", "api": "http://api:8080"}
    assert {"api", "ws"} <= set(compose) and "./traefik/routes.yml:/etc/traefik/routes.yml:ro" in \
        compose["front-door"]["volumes"]


def test_the_ingress_routes_like_traefik():
    ingress = next(doc for doc in yaml.safe_load_all((INFRA / "k8s" / "ingress.yaml").read_text())
                   if doc["kind"] == "Ingress")
    [rule] = ingress["spec"]["rules"]
    backends = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    traefik = yaml.safe_load((INFRA / "traefik" / "routes.yml").read_text())["http"]["routers"]["hub"]["rule"]
    assert {path for path, service in backends.items() if service == "ws"} == set(hub_prefixes_of(traefik))
    assert backends["/"] == "api" and ingress["spec"]["tls"][0]["secretName"] == "exchange-tls"


def test_behind_a_front_door_the_page_finds_the_hub_at_its_own_origin():
    app = create_app(Settings.from_env({"HOME": "/nowhere"}))
    client = TestClient(app)  # no lifespan: /config.json needs no Kafka
    assert client.get("/config.json").json() == {"ws_url": "ws://testserver:8081/ws"}
    behind = client.get("/config.json", headers={"X-Forwarded-Host": "exchange.example.com",
                                                  "X-Forwarded-Proto": "https"})
    assert behind.json() == {"ws_url": "wss://exchange.example.com/ws"}
    assert behind.headers["cache-control"] == "no-store"
    page = client.get("/", headers={"X-Forwarded-Host": "exchange.example.com", "X-Forwarded-Proto": "https"})
    assert "connect-src 'self' wss://exchange.example.com" in page.headers["content-security-policy"]
    forged = client.get("/config.json", headers={"X-Forwarded-Host": "evil.example/x?y"})
    assert forged.json() == {"ws_url": "ws://testserver:8081/ws"}  # not a host name: ignored


def test_the_log_shipping_example_reads_the_fields_the_logs_have():
    config = yaml.safe_load((INFRA / "logging" / "promtail.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["static_configs"][0]["labels"]["__path__"] == "${EXCHANGE_STATE_DIR}/logs/*.log"
    stages = {name: body for stage in job["pipeline_stages"] for name, body in stage.items()}
    line = JsonFormatter("api").format(logging.LogRecord("exchange.api", logging.INFO, __file__, 1, "hi", None, None))
    fields = set(json.loads(line))
    assert set(stages["json"]["expressions"].values()) <= fields
    assert set(stages["labels"]) <= set(stages["json"]["expressions"]) and stages["timestamp"]["source"] == "ts"
