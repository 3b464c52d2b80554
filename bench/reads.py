"""`exchange bench reads`: what reading one's own writes at once costs, side by side with not waiting.

Runs against a running exchange (`exchange up`). Starts two API processes of its own on the
configured Kafka and Cassandra, one with fresh reads (`READ_WAIT_MS`, api/fresh_reads.py) and one
without (`READ_WAIT_MS=0`), defines a fresh market, and then, `--rounds` times on each API in
turn, does what a reconciling bot does: place an order and list the open orders at once, cancel
it and list them at once, and take an order of another trader's and read the balances at once.
`--background` orders a second from another trader on the same market keep the order flow and
the recorder busy meanwhile.

Prints, per API: the reads that missed the write just made (the order not listed, the cancelled
one still listed, the fill not in the balances), and the reads' latency (p50, p90, p99). For the
fresh reads it also prints the wait itself, from the API's histogram
(`exchange_api_fresh_read_wait_seconds`, as a bucket bound).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from exchange.config import Settings
from exchange.kafka_io import ensure_topics, publish
from exchange.reference import make_asset, make_market
from infra.local.ports import free_port
from schemas.topics import ASSETS, MARKETS

WAIT = "fresh reads"
NO_WAIT = "no wait"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench reads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="rounds on each API (3 checked reads each)")
    parser.add_argument("--background", type=float, default=20.0, help="other orders per second meanwhile")
    args = parser.parse_args(argv)
    return asyncio.run(_run(Settings.from_env(), args))


@dataclass
class Reads:
    misses: int = 0
    latencies: list[float] = field(default_factory=list)

    def ms(self, quantile: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    await ensure_topics(settings)
    market = await _fresh_market(settings)
    state = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    apis = {WAIT: free_port(), NO_WAIT: free_port()}
    procs = [_api(settings, state, port, name == NO_WAIT) for name, port in apis.items()]
    try:
        await asyncio.gather(*(_ready(port) for port in apis.values()))
        clients = {name: httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
                   for name, port in apis.items()}
        first = clients[WAIT]
        buyer, seller, other = [await _trader(first, market, role) for role in ("buyer", "seller", "background")]
        before = await _histogram(first)
        stop = asyncio.Event()
        background = asyncio.create_task(_background(clients[NO_WAIT], other, market, args.background, stop))
        results = {name: Reads() for name in apis}
        bought = 0
        for _ in range(args.rounds):
            for name, http in clients.items():
                bought += 1
                await _round(http, market, buyer, seller, bought, results[name])
        stop.set()
        await background
        after = await _histogram(first)
        print(_report(args, results, before, after))
        for http in clients.values():
            await http.aclose()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    return 0


async def _round(http: httpx.AsyncClient, market: dict, buyer: dict, seller: dict, bought: int,
                 reads: Reads) -> None:
    symbol = market["symbol"]

    async def read(path: str, auth: dict) -> list:
        started = time.perf_counter()
        answer = await http.get(path, headers=auth, params={"market": symbol} if path.endswith("orders") else None)
        reads.latencies.append(time.perf_counter() - started)
        return answer.json()["items"]

    bid = (await http.post("/api/v1/orders", headers=buyer, json={"market": symbol, "side": "buy", "price": "9",
                                                                   "quantity": "1"})).json()
    reads.misses += bid["order_id"] not in {o["order_id"] for o in await read("/api/v1/orders", buyer)}
    await http.delete(f"/api/v1/orders/{bid['order_id']}", headers=buyer)
    reads.misses += bid["order_id"] in {o["order_id"] for o in await read("/api/v1/orders", buyer)}
    await http.post("/api/v1/orders", headers=seller, json={"market": symbol, "side": "sell", "price": "10",
                                                             "quantity": "1"})
    await http.post("/api/v1/orders", headers=buyer, json={"market": symbol, "side": "buy", "price": "10",
                                                            "quantity": "1"})
    held = {b["asset"]: b["available"] for b in await read("/api/v1/balances", buyer)}
    reads.misses += held.get(market["base"]) != str(bought)


async def _background(http: httpx.AsyncClient, trader: dict, market: dict, rate: float, stop: asyncio.Event) -> None:
    """Orders that rest below the bench's own and are cancelled now and then."""
    if rate <= 0:
        return
    sent = 0
    started = time.monotonic()
    while not stop.is_set():
        price = f"{random.randint(100, 800) / 100:.2f}"
        await http.post("/api/v1/orders", headers=trader, json={"market": market["symbol"], "side": "buy",
                                                                 "price": price, "quantity": "0.01"})
        sent += 1
        if sent % 50 == 0:
            await http.delete("/api/v1/orders", headers=trader, params={"market": market["symbol"]})
        await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))


def _report(args: argparse.Namespace, results: dict[str, Reads], before: dict, after: dict) -> str:
    lines = [f"{args.rounds} rounds on each API, 3 checked reads a round, {args.background:g} other orders/s",
             f"{'API':<12} {'reads':>6} {'missed':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}"]
    for name, reads in results.items():
        lines.append(f"{name:<12} {len(reads.latencies):>6} {reads.misses:>7} {reads.ms(0.5):>7.1f} "
                     f"{reads.ms(0.9):>7.1f} {reads.ms(0.99):>7.1f}")
    waits = {bound: after.get(bound, 0) - before.get(bound, 0) for bound in after}
    total = waits.get(float("inf"), 0)
    if total:
        def bound_of(quantile: float) -> str:
            bound = min(b for b, count in waits.items() if count >= quantile * total)
            return "more" if bound == float("inf") else f"{bound * 1000:g} ms"
        lines.append(f"fresh reads' wait (bucket bounds of the API's histogram, {total} reads): "
                     f"p50 <= {bound_of(0.5)}, p90 <= {bound_of(0.9)}, p99 <= {bound_of(0.99)}")
    return "\n".join(lines)


async def _histogram(http: httpx.AsyncClient) -> dict[float, int]:
    """The cumulative buckets of the API's fresh-read wait histogram."""
    text = (await http.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == "exchange_api_fresh_read_wait_seconds":
            return {float(s.labels["le"]): int(s.value) for s in family.samples if s.name.endswith("_bucket")}
    return {}


def _api(settings: Settings, state: Path, port: int, no_wait: bool) -> subprocess.Popen:
    env = os.environ | settings.to_env() | {"EXCHANGE_STATE_DIR": str(state / str(port)), "API_PORT": str(port),
                                            "EXCHANGE_FAUCET": "on", "BINANCE_ORDERS_PER_10S": "100000"}
    if no_wait:
        env["READ_WAIT_MS"] = "0"
    log = open(state / f"api-{port}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "exchange.cli", "api"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


async def _ready(port: int) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(240):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the API on port {port} did not get ready")


async def _fresh_market(settings: Settings) -> dict:
    symbol = "R" + "".join(random.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=5))
    base, quote = make_asset(symbol, 6, 0), make_asset("USDC", 6, 0)
    await publish(settings, ASSETS, symbol, base)
    await publish(settings, ASSETS, "USDC", quote)
    market = make_market(f"{symbol}_USDC", base, quote, tick="0.01", step="0.01", partition=0, ts=0)
    await publish(settings, MARKETS, market["symbol"], market)
    await asyncio.sleep(2)  # every process picks it up from the compacted topic
    return market


async def _trader(http: httpx.AsyncClient, market: dict, role: str) -> dict:
    email = f"bench-reads-{role}-{time.time_ns()}@example.com"
    await http.post("/api/v1/auth/signup", json={"username": role, "email": email, "password": "benchmark"})
    token = (await http.post("/api/v1/auth/login", json={"email": email, "password": "benchmark"})).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    for asset, amount in (((market["base"], "100000"),) if role == "seller" else (("USDC", "10000000"),)):
        for _ in range(60):  # until this API process knows the new asset
            if (await http.post("/api/v1/wallet/deposits", headers=auth,
                                json={"asset": asset, "amount": amount})).status_code == 201:
                break
            await asyncio.sleep(0.5)
    return auth
