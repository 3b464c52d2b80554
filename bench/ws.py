"""`exchange bench ws`: messages/s one hub delivers, and how late.

Starts a hub of its own against the configured Kafka, defines a fresh market, connects
`--clients` WebSocket clients subscribed to its trades and depth, then publishes `--rate` trades a
second straight to Kafka for `--seconds`, `--batch` trades per record (as the matching stage emits
one record per batch of commands), each record followed by a depth update. Prints the messages
delivered per second over all clients, how many of those expected arrived, the p50/p99 delay
from a trade's time (set when it is produced) to its arrival at a client, and the CPU each
process used. The clients run in `--client-processes` processes of their own
(`bench/ws_swarm.py`), cheap enough that the hub is what is measured.
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
from aiokafka import AIOKafkaProducer

from exchange.config import Settings
from exchange.kafka_io import ensure_topics, publish
from exchange.reference import make_asset, make_market
from infra.local.ports import free_port
from schemas.codec import codec
from schemas.topics import ASSETS, DEPTH, MARKETS, TRADES

from .load import cpu_report, cpu_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench ws", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=100, help="trades per second")
    parser.add_argument("--batch", type=int, default=10, help="trades per Kafka record")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client-processes", type=int, default=2)
    args = parser.parse_args(argv)
    return asyncio.run(_run(Settings.from_env(), args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    await ensure_topics(settings)
    market = await _fresh_market(settings)
    port = free_port()
    state = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    env = os.environ | settings.to_env() | {"EXCHANGE_STATE_DIR": str(state), "WS_PORT": str(port),
                                            "WS_CLIENT_BUFFER": str(64 << 20)}
    log = open(state / "ws.log", "wb")
    hub = subprocess.Popen([sys.executable, "-m", "exchange.cli", "ws"], env=env, stdout=log, stderr=subprocess.STDOUT)
    swarms: list[subprocess.Popen] = []
    try:
        await _healthy(port)
        streams = f"trades@{market['symbol']},depth@{market['symbol']}"
        shares = [args.clients // args.client_processes + (i < args.clients % args.client_processes)
                  for i in range(args.client_processes)]
        print(f"connecting {args.clients} clients from {args.client_processes} processes ...", flush=True)
        swarms = [subprocess.Popen([sys.executable, "-m", "bench.ws_swarm", "--port", str(port), "--clients",
                                    str(n), "--streams", streams], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                  for n in shares if n]
        for swarm in swarms:
            line = await asyncio.to_thread(swarm.stdout.readline)
            if line.strip() != b"ready":
                raise RuntimeError(f"a client process failed to connect (hub log: {state / 'ws.log'})")
        pids = {"hub": hub.pid} | {f"clients {i + 1}": s.pid for i, s in enumerate(swarms)} | {"producer": os.getpid()}
        print(f"publishing {args.rate} trades/s for {args.seconds:g} s ...", flush=True)
        cpu_before = cpu_sample(pids)
        sent, elapsed = await _publish(settings, market["symbol"], args)
        await asyncio.sleep(2.0)  # what is in flight arrives
        cpu_after = cpu_sample(pids)
        results = []
        for swarm in swarms:
            swarm.stdin.close()
            results.append(orjson.loads(await asyncio.to_thread(swarm.stdout.readline)))
    finally:
        for swarm in swarms:
            swarm.kill()
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("the hub did not stop within 30 s of SIGTERM; killed", flush=True)
            hub.kill()
    received = sum(r["frames"] for r in results)
    delays = sorted(d for r in results for d in r["delays"])
    closed = sum(r["closed"] for r in results)
    expected = sent * args.clients
    p50 = delays[len(delays) // 2] if delays else float("nan")
    p99 = delays[int(len(delays) * 0.99)] if delays else float("nan")
    print(f"ws: {received:,} of {expected:,} messages delivered to {args.clients} clients "
          f"= {received / elapsed:,.0f} messages/s over the {elapsed:.1f} s of publishing; "
          f"trade -> client p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(delays):,} samples)"
          + (f"; {closed} clients cut off ({next(r['reason'] for r in results if r['reason'])})" if closed else ""))
    print("CPU during the run: " + cpu_report(cpu_before, cpu_after))
    return 0


async def _fresh_market(settings: Settings) -> dict:
    symbol = "B" + "".join(random.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=5))
    base, quote = make_asset(symbol, 6, 0), make_asset("USDC", 6, 0)
    await publish(settings, ASSETS, symbol, base)
    await publish(settings, ASSETS, "USDC", quote)
    market = make_market(f"{symbol}_USDC", base, quote, tick="0.01", step="0.01", partition=0, ts=0)
    await publish(settings, MARKETS, market["symbol"], market)
    return market


async def _healthy(port: int) -> None:
    async with httpx.AsyncClient(timeout=1) as http:
        for _ in range(120):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("the hub did not start")


async def _publish(settings: Settings, symbol: str, args: argparse.Namespace) -> tuple[int, float]:
    """Trades at `rate`, `batch` to a record, each record followed by a depth update; messages sent."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=1)
    await producer.start()
    key, sent, trade_id, started = symbol.encode(), 0, 0, time.monotonic()
    try:
        while time.monotonic() - started < args.seconds:
            now = int(time.time() * 1000)
            trades = []
            for _ in range(args.batch):
                trade_id += 1
                trades.append({"trade_id": trade_id, "market": symbol, "price": 10000, "quantity": 1,
                               "quote": 10000, "taker_side": "buy", "maker_order_id": 1, "maker_account": "m",
                               "taker_order_id": 2, "taker_account": "t", "maker_fee": 0, "taker_fee": 0, "ts": now})
            await producer.send(TRADES.name, codec.encode(TRADES.record, {"market": symbol, "trades": trades}),
                                key=key, partition=0)
            await producer.send(DEPTH.name, codec.encode(DEPTH.record, {
                "market": symbol, "first_update_id": trade_id - args.batch + 1, "last_update_id": trade_id,
                "bids": [{"price": 9999, "quantity": trade_id}], "asks": [], "ts": now}), key=key, partition=0)
            sent += args.batch + 1
            await asyncio.sleep(max(0.0, started + trade_id / args.rate - time.monotonic()))
        await producer.flush()
    finally:
        await producer.stop()
    return sent, time.monotonic() - started
