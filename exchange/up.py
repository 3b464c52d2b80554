"""`exchange up`: the whole exchange on one machine, in the foreground, until Ctrl-C.

Starts Kafka and Cassandra (the local runner), creates the topics, applies the Cassandra schema,
defines the demo assets and markets, then runs N workers, one recorder and the API as child
processes logging to `$EXCHANGE_STATE_DIR/logs/`. Ctrl-C (or SIGTERM) stops the children, then
the servers; the data stays in the state directory, so the next `exchange up` carries on with
the same balances, orders and trades.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time

import httpx

from exchange.config import Settings
from exchange.tls import local_certificate
from infra.local.ports import free_port

# Prometheus endpoints of the workers and the recorder (the API and the hub serve /metrics on
# their own ports); infra/prometheus/prometheus.yml scrapes these.
WORKER_METRICS_PORT = 9100  # + the worker's number
RECORDER_METRICS_PORT = 9200


def setup(settings: Settings, demo_markets: bool) -> None:
    """What must exist before the processes start: the topics, the Cassandra schema and, for a
    demo, the demo assets and markets. Idempotent (`exchange setup`)."""
    from exchange import db
    from exchange.demo import define_demo_markets
    from exchange.kafka_io import ensure_topics, group_coordinator_ready, replication

    replicas = asyncio.run(replication(settings))
    print(f"replication: Kafka topics {replicas.factor} replicas, min.insync.replicas {replicas.min_insync} "
          f"(brokers {settings.kafka_bootstrap}); Cassandra keyspace {settings.cassandra_keyspace} "
          f"{settings.cassandra_replication}, {settings.cassandra_consistency}/{settings.cassandra_serial_consistency} "
          f"(nodes {', '.join(settings.cassandra_hosts)})", flush=True)
    asyncio.run(group_coordinator_ready(settings, replicas=replicas))
    created = asyncio.run(ensure_topics(settings, replicas))
    if created:
        print(f"created topics: {', '.join(created)}", flush=True)
    if demo_markets:
        created = asyncio.run(define_demo_markets(settings, ts=int(time.time() * 1000)))
        if created:
            print(f"defined demo assets and markets: {', '.join(created)}", flush=True)
    db.migrate_when_up(settings)


def up(workers: int, demo: bool = True, tls: bool = False) -> int:
    from infra.local import runner

    settings = Settings.from_env()
    if tls and not settings.tls:
        cert, key = local_certificate(settings.state_dir)
        settings = dataclasses.replace(settings, tls_cert_file=str(cert), tls_key_file=str(key))
    # Right after the topics are created their leaders are still being elected; aiokafka retries
    # and logs each attempt as an error, which reads like a failure on a newcomer's terminal.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = runner.up(settings)
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        setup(settings, demo_markets=True)
        logs = settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        mail = None
        if not settings.smtp_host:  # e-mail goes to a local catcher: nothing leaves the machine
            mail = settings.state_dir / "mail"
            port = free_port()
            children["mail-catcher"] = subprocess.Popen(
                [sys.executable, "-m", "exchange.cli", "mail-catcher", "--dir", str(mail), "--port", str(port)],
                stdout=open(logs / "mail-catcher.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
            settings = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none")
        env = settings.to_env()
        # info: the logs then say when each worker is ready, and what it did
        commands = {f"worker-{i}": ["worker", "--name", str(i), "--loglevel", "info",
                                    "--metrics-port", str(WORKER_METRICS_PORT + i)] for i in range(1, workers + 1)}
        commands |= {"recorder": ["recorder", "--name", "1", "--loglevel", "info",
                                  "--metrics-port", str(RECORDER_METRICS_PORT + 1)],
                     "api": ["api"], "ws": ["ws"]}
        for name, args in commands.items():
            log = open(logs / f"{name}.log", "ab")
            # Own process group: Ctrl-C reaches this supervisor only, which stops them in order.
            children[name] = subprocess.Popen([sys.executable, "-m", "exchange.cli", *args], stdout=log,
                                              stderr=subprocess.STDOUT, env={**os.environ, **env},
                                              start_new_session=True)
        base = settings.api_url
        print(f"starting {workers} worker(s), a recorder, the API and the WebSocket hub (logs in {logs}) ...",
              flush=True)
        if _wait_ready(base, logs, children, lambda: stopping, verify=settings.tls_cert_file or True):
            if demo:  # market makers, so the demo markets move on the trading page from the start
                children["demo"] = subprocess.Popen([sys.executable, "-m", "exchange.cli", "demo"],
                                                    stdout=open(logs / "demo.log", "ab"), stderr=subprocess.STDOUT,
                                                    env={**os.environ, **env}, start_new_session=True)
            _banner(settings, base, logs, workers, demo, mail)
        while not stopping:
            dead = [n for n, p in children.items() if p.poll() is not None and n != "demo"]
            if dead:
                print(f"{', '.join(dead)} exited; see {logs}. Stopping.", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping the exchange ...", flush=True)
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        runner.down(settings)
        print("stopped; data kept in", settings.state_dir, flush=True)


def worker_ready(log_file) -> bool:
    """True once a worker or recorder started with `--loglevel info` says it is ready: Faust logs
    "[^Worker]: Ready" when its tables are restored and its agents run."""
    try:
        return "[^Worker]: Ready" in log_file.read_text(errors="replace")
    except FileNotFoundError:
        return False


def _wait_ready(base: str, logs, children, stopping, timeout: float = 300.0, verify: str | bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping():
        workers_ready = all(worker_ready(logs / f"{name}.log") for name in children
                            if name.startswith("worker-") or name == "recorder")
        try:
            if workers_ready and httpx.get(f"{base}/readyz", timeout=2, verify=verify).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if any(p.poll() is not None for p in children.values()):
            return False
        time.sleep(0.5)
    return False


def _banner(settings: Settings, base: str, logs, workers: int, demo: bool, mail) -> None:
    worker_metrics = ", ".join(f":{WORKER_METRICS_PORT + i}" for i in range(1, workers + 1))
    hub, curl = settings.hub_url, f"curl -s --cacert {settings.tls_cert_file}" if settings.tls else "curl -s"
    tls = (f"\n  TLS            certificate {settings.tls_cert_file} (clients trust it: curl --cacert, "
           "SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)") if settings.tls else ""
    print(f"""
The exchange is running.
  Trading page   {base}/   (sign up, watch the markets, trade)
  REST API       {base}/api/v1   (OpenAPI: {base}/openapi.json, metrics: {base}/metrics)
  Binance API    {base}/api/v3 and {hub}/ws/<stream>   (ccxt, Freqtrade: docs/binance-api.md)
  WebSocket      {hub}/ws   (e.g. {{"method":"SUBSCRIBE","params":["trades@SOL_USDC"],"id":1}})
  Kafka          {settings.kafka_bootstrap}
  Cassandra      {", ".join(f"{h}:{settings.cassandra_port}" for h in settings.cassandra_hosts)} (keyspace {settings.cassandra_keyspace})
  Logs           {logs}   (JSON lines; LOG_FORMAT=text for plain)
  E-mail         {f"{mail}   (one .eml file per message the exchange sent: a development catcher, nothing leaves)"
                  if mail else f"through {settings.smtp_host}:{settings.smtp_port}"}
  Metrics        {base}/metrics, {hub.replace("ws", "http", 1)}/metrics, workers at 127.0.0.1{worker_metrics}/metrics,
                 recorder at 127.0.0.1:{RECORDER_METRICS_PORT + 1}/metrics (Prometheus config: infra/prometheus/)
  Markets        SOL_USDC, BTC_USDT, ETH_USDT (new accounts get demo balances in development){tls}

Try it:
  {curl} -XPOST {base}/api/v1/auth/signup -d '{{"username":"ana","email":"ana@example.com","password":"correct horse"}}'
  {curl} -XPOST {base}/api/v1/auth/login -d '{{"email":"ana@example.com","password":"correct horse"}}'
  {curl} -XPOST {base}/api/v1/orders -H "Authorization: Bearer <token>" \\
       -d '{{"market":"SOL_USDC","price":"150","quantity":"10","side":"buy"}}'

{"A market-making bot keeps the demo markets moving (log: demo.log; `exchange up --without-demo` runs none)."
 if demo else "Movement in the demo markets: `make demo` (or .venv/bin/exchange demo) in another terminal."}
Ctrl-C stops everything; the data stays for the next run.
""", flush=True)  # noqa: E501 (the banner's lines as they are printed)
