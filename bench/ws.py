"""`exchange bench ws`: messages/s one hub delivers, and how late.

Starts a hub of its own against the configured Kafka, defines a fresh market, connects
`--clients` WebSocket clients subscribed to its trades and depth, then publishes `--rate` trades a
second (in batches of 50, with a depth update per batch) straight to Kafka for `--seconds`. Prints
the messages delivered per second over all clients and the p50/p99 delay from a trade's time
(set when it is produced) to its arrival at a client. The clients run in this process, so on a
small machine they, not the hub, may be what limits the figure; it says so when they fall behind.
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
import websockets
from aiokafka import AIOKafkaProducer

from exchange.config import Settings
from exchange.kafka_io import ensure_topics, publish
from exchange.reference import make_asset, make_market
from schemas.codec import codec
from schemas.topics import ASSETS, DEPTH, MARKETS, TRADES

from .api import free_port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench ws", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000, help="trades per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    return asyncio.run(_run(Settings.from_env(), args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    await ensure_topics(settings)
    symbol = "B" + "".join(random.choices("ABCDEFGHJKLMNPQRSTUVWXYZ", k=5))
    base, quote = make_asset(symbol, 6, 0), make_asset("USDC", 6, 0)
    await publish(settings, ASSETS, symbol, base)
    await publish(settings, ASSETS, "USDC", quote)
    market = make_market(f"{symbol}_USDC", base, quote, tick="0.01", step="0.01", partition=0, ts=0)
    await publish(settings, MARKETS, market["symbol"], market)
    port = free_port()
    state = Path(tempfile.mkdtemp(prefix="bench-ws-"))
    env = os.environ | settings.to_env() | {"EXCHANGE_STATE_DIR": str(state), "WS_PORT": str(port),
                                            "WS_CLIENT_QUEUE": "100000"}
    log = open(state / "ws.log", "wb")
    hub = subprocess.Popen([sys.executable, "-m", "exchange.cli", "ws"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
        url = f"ws://127.0.0.1:{port}/ws"
        streams = [f"trades@{market['symbol']}", f"depth@{market['symbol']}"]
        clients = [await websockets.connect(url, max_size=2**22, max_queue=None) for _ in range(args.clients)]
        for ws in clients:
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}).decode())
            await ws.recv()
        received, delays = [0], []
        stop = time.monotonic() + args.seconds + 5

        async def read(ws) -> None:
            while time.monotonic() < stop:
                try:
                    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 1))
                except asyncio.TimeoutError:
                    continue
                received[0] += 1
                data = frame.get("data", {})
                if data.get("e") == "trade" and random.random() < 0.01:
                    delays.append(time.time() * 1000 - data["T"])

        readers = [asyncio.create_task(read(ws)) for ws in clients]
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=2)
        await producer.start()
        sent, trade_id, started = 0, 0, time.monotonic()
        try:
            while time.monotonic() - started < args.seconds:
                trades = []
                for _ in range(50):
                    trade_id += 1
                    trades.append({"trade_id": trade_id, "market": market["symbol"], "price": 10000, "quantity": 1,
                                   "quote": 10000, "taker_side": "buy", "maker_order_id": 1, "maker_account": "m",
                                   "taker_order_id": 2, "taker_account": "t", "maker_fee": 0, "taker_fee": 0,
                                   "ts": int(time.time() * 1000)})
                key = market["symbol"].encode()
                await producer.send(TRADES.name, codec.encode(TRADES.record, {"market": market["symbol"],
                                                                              "trades": trades}), key=key, partition=0)
                await producer.send(DEPTH.name, codec.encode(DEPTH.record, {
                    "market": market["symbol"], "first_update_id": trade_id - 49, "last_update_id": trade_id,
                    "bids": [{"price": 9999, "quantity": trade_id}], "asks": [], "ts": int(time.time() * 1000)}),
                    key=key, partition=0)
                sent += 51
                await asyncio.sleep(max(0.0, started + trade_id / args.rate - time.monotonic()))
        finally:
            await producer.stop()
        elapsed = time.monotonic() - started
        await asyncio.gather(*readers)
        for ws in clients:
            await ws.close()
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=30)
    delays.sort()
    expected = sent * args.clients
    p50 = delays[len(delays) // 2] if delays else float("nan")
    p99 = delays[int(len(delays) * 0.99)] if delays else float("nan")
    print(f"ws: {received[0]:,} of {expected:,} messages delivered to {args.clients} clients in {elapsed:.1f}s "
          f"= {received[0] / elapsed:,.0f} messages/s; trade -> client p50 {p50:.0f} ms, p99 {p99:.0f} ms"
          + ("" if received[0] >= expected else " (the clients, in this one process, fell behind)"))
    return 0
