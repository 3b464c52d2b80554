"""`exchange bench api`: orders/s and latency through one REST API process.

Starts its own worker, recorder and API against the configured Kafka and Cassandra (and the demo
markets), signs up traders (each credited demo balances, as in development), then places limit
orders from `--connections` concurrent HTTP clients for `--seconds`: buys and sells around one
price, so some trade and some rest. Every request waits for the engine's outcome (201), or 202
after the API's 2 s wait. Prints orders/s and the p50/p99 of the request latency.

First it prints the ceiling: a bare Starlette route loaded the same way for 5 s
(http_ceiling.py), so what an order costs beyond the web framework shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from exchange.config import Settings
from exchange.demo import define_demo_markets
from exchange.kafka_io import ensure_topics
from exchange.up import worker_ready
from infra.local.ports import free_port

from . import http_ceiling
from .load import Connection, cpu_report, cpu_sample

CEILING_SECONDS = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=64, help="concurrent HTTP clients")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the measured run")
    parser.add_argument("--traders", type=int, default=32)
    parser.add_argument("--without-recorder", action="store_true",
                        help="no recorder: the order path alone, with the read side's CPU left out")
    args = parser.parse_args(argv)
    return asyncio.run(_run(Settings.from_env(), args))


class Processes:
    def __init__(self, settings: Settings, port: int, recorder: bool = True) -> None:
        self.recorder = recorder
        self.settings = settings
        self.state = Path(tempfile.mkdtemp(prefix="bench-api-"))
        self.metrics_port = free_port()
        self.worker_metrics = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.env = os.environ | settings.to_env() | {"EXCHANGE_STATE_DIR": str(self.state), "API_PORT": str(port)}
        self.procs: dict[str, subprocess.Popen] = {}

    def __enter__(self):
        for args in (["worker", "--name", "bench", "--loglevel", "info", "--metrics-port", str(self.metrics_port)],
                     *([["recorder", "--name", "bench", "--loglevel", "info"]] if self.recorder else []), ["api"]):
            log = open(self.state / f"{args[0]}.log", "wb")
            self.procs[args[0]] = subprocess.Popen([sys.executable, "-m", "exchange.cli", *args], env=self.env,
                                                   stdout=log, stderr=subprocess.STDOUT)
        return self

    def pids(self) -> dict[str, int]:
        """Our processes, this load client, and the servers if the local runner started them."""
        from infra.local.runner import nodes

        servers = {node.name: node.process.pid() for node in nodes(self.settings)}
        return ({name: proc.pid for name, proc in self.procs.items()} | {"load client": os.getpid()}
                | {name: pid for name, pid in servers.items() if pid is not None})

    def __exit__(self, *exc) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            proc.wait(timeout=60)


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    print(await http_ceiling.measure(CEILING_SECONDS, args.connections), flush=True)
    await ensure_topics(settings)
    await define_demo_markets(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Processes(settings, port, recorder=not args.without_recorder) as procs:
        limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
            print(f"starting a worker, {'a recorder, ' if procs.recorder else ''}the API (logs in {procs.state}) ...",
                  flush=True)
            await _ready(http, procs)
            print(f"signing up {args.traders} traders ...", flush=True)
            tokens = await _traders(http, args.traders)
            print(f"warming up 2 s, then measuring {args.seconds:g} s with {args.connections} connections ...",
                  flush=True)
            await _measure(port, tokens, 2.0, args.connections)  # warm-up: first reads of each partition
            before, cpu_before = (await http.get(procs.worker_metrics)).text, cpu_sample(procs.pids())
            count, latencies, statuses, elapsed = await _measure(port, tokens, args.seconds, args.connections)
            after, cpu_after = (await http.get(procs.worker_metrics)).text, cpu_sample(procs.pids())
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"api: {count:,} orders in {elapsed:.1f}s = {count / elapsed:,.0f} orders/s through one API process "
          f"({args.connections} connections); latency p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; "
          f"statuses {dict(sorted(statuses.items()))}")
    print("worker during the run: " + worker_breakdown(before, after))
    print("CPU during the run: " + cpu_report(cpu_before, cpu_after))
    return 0


def worker_breakdown(before: str, after: str) -> str:
    """Where an order's time went inside the worker, from its Prometheus histograms."""
    parts = []
    for title, name, labels in (("API -> matching", "exchange_command_age_seconds", {}),
                                ("accounts batch", "exchange_stage_batch_seconds", {"stage": "accounts"}),
                                ("matching batch", "exchange_stage_batch_seconds", {"stage": "matching"})):
        old = _buckets(before, name, labels)
        buckets = {bound: n - old.get(bound, 0.0) for bound, n in _buckets(after, name, labels).items()}
        total = buckets.get(float("inf"), 0)
        if not total:
            continue
        p50, p99 = (next(b for b, n in sorted(buckets.items()) if n >= q * total) for q in (0.5, 0.99))
        parts.append(f"{title} p50 <= {p50 * 1000:g} ms, p99 <= {p99 * 1000:g} ms ({total:,.0f})")
    return "; ".join(parts) or "no metrics"


def _buckets(text: str, histogram: str, labels: dict[str, str]) -> dict[float, float]:
    """A histogram's cumulative bucket counts by upper bound, for the series with these labels."""
    return {float(sample.labels["le"]): sample.value
            for family in text_string_to_metric_families(text) if family.name == histogram
            for sample in family.samples
            if sample.name == f"{histogram}_bucket" and labels.items() <= sample.labels.items()}


async def _ready(http: httpx.AsyncClient, procs: Processes, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(worker_ready(procs.state / f"{n}.log") for n in procs.procs if n != "api") and \
                    (await http.get("/readyz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the exchange did not start; logs in {procs.state}")


async def _traders(http: httpx.AsyncClient, n: int) -> list[str]:
    tokens = []
    for i in range(n):
        email = f"bench-{time.time_ns()}-{i}@example.com"
        await http.post("/api/v1/auth/signup", json={"username": f"bench{i}", "email": email, "password": "benchmark"})
        login = await http.post("/api/v1/auth/login", json={"email": email, "password": "benchmark"})
        tokens.append(login.json()["token"])
    return tokens


async def _measure(port: int, tokens: list[str], seconds: float, connections: int):
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.monotonic() + seconds
    rng = random.Random(1)

    async def client(index: int) -> None:
        connection = Connection("127.0.0.1", port)
        headers = {"Authorization": f"Bearer {tokens[index % len(tokens)]}"}
        try:
            while time.monotonic() < stop:
                side = rng.choice(("buy", "sell"))
                cents = rng.randint(9990, 10010)  # 99.90 .. 100.10: some trade, some rest
                body = orjson.dumps({"market": "SOL_USDC", "side": side, "price": f"{cents // 100}.{cents % 100:02d}",
                                     "quantity": "0.1"})
                started = time.perf_counter()
                status, _ = await connection.request("POST", "/api/v1/orders", body, headers)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await connection.close()

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(connections)))
    return len(latencies), latencies, statuses, time.monotonic() - started
