"""`exchange bench pipeline`: commands through the accounts and matching stages of one worker.

Starts a worker of its own against the configured Kafka, defines fresh markets, funds traders,
then measures:
- throughput: N commands produced as fast as possible (batched per partition, as the API does),
  timed from the first send until the worker group has committed every input message;
- latency at a fixed rate: time from producing a taker order to the Kafka timestamp of its trade;
- the ceiling: raw aiokafka produce -> consume of the same number of messages, no Faust.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from exchange.commands import CommandProducer, cancel, deposit, now_ms, place
from exchange.config import Settings
from exchange.kafka_io import ensure_topics, publish
from exchange.reference import make_asset, make_market
from schemas.codec import codec
from schemas.topics import ASSETS, COMMANDS, MARKETS, ORDERS, SETTLEMENTS, TRADES, account_partition

APP_GROUP = "exchange"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="commands for the throughput run")
    parser.add_argument("--batch", type=int, default=500, help="commands per produce round")
    parser.add_argument("--rate", type=int, default=5_000, help="commands/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    args = parser.parse_args(argv)
    return asyncio.run(_run(Settings.from_env(), args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    await ensure_topics(settings)
    ceiling = await raw_kafka_rate(settings, args.n)
    print(f"raw aiokafka produce->consume: {ceiling:,.0f} messages/s ({args.n} x 100 bytes, no Faust)", flush=True)
    markets, traders = await define(settings)
    flow = OrderFlow(markets, traders)
    print("starting a worker and funding traders (a worker restores the tables' changelogs first) ...", flush=True)
    with WorkerProcess(settings):
        producer = CommandProducer(settings)
        await producer.start()
        try:
            await producer.send(funding(markets, traders, 10**17))
            await wait_caught_up(settings)
            print(f"measuring: {args.n:,} commands as fast as they go ...", flush=True)
            started = time.perf_counter()
            for _ in range(args.n // args.batch):
                await producer.send(flow.batch(args.batch), wait=False)
            await producer.producer.flush()
            await wait_caught_up(settings)
            elapsed = time.perf_counter() - started
            n = args.n // args.batch * args.batch
            print(f"throughput: {n / elapsed:,.0f} commands/s through accounts and matching "
                  f"({n} commands in {elapsed:.1f} s, batches of {args.batch}, one worker)", flush=True)
            await latency(settings, producer, flow, args.rate, args.seconds)
        finally:
            await producer.stop()
    return 0


class OrderFlow:
    """Resting orders around a mid price, crossing orders that trade, and cancels; all funded."""

    def __init__(self, markets: dict[str, dict], traders: dict[str, list[str]]) -> None:
        self.markets, self.traders = markets, traders
        self.random = random.Random(1)
        self.order_ids = iter(range(random.randrange(10**12), 10**15))
        self.live: dict[str, list[tuple[str, int]]] = {m: [] for m in markets}

    def batch(self, size: int) -> list[dict]:
        return [self.command() for _ in range(size)]

    def command(self, taker: bool = False) -> dict:
        rng = self.random
        market = rng.choice(list(self.markets))
        account = rng.choice(self.traders[market])
        side = rng.choice(["buy", "sell"])
        roll = 1.0 if taker else rng.random()
        if roll < 0.3 and self.live[market]:
            owner, order_id = self.live[market].pop(rng.randrange(len(self.live[market])))
            return cancel(owner, order_id, market)
        order_id = next(self.order_ids)
        if roll < 0.85:  # passive, near the top of the book
            price = 10_000 - rng.randint(1, 20) if side == "buy" else 10_000 + rng.randint(1, 20)
            self.live[market].append((account, order_id))
            return place(account, order_id, market, side, price, rng.randint(1, 20))
        price = 10_030 if side == "buy" else 9_970  # crosses a few levels
        return place(account, order_id, market, side, price, rng.randint(5, 40), time_in_force="IOC")


TRADERS_PER_MARKET = 20


def bench_markets(tag: str, partitions: int) -> tuple[list[dict], dict[str, dict], dict[str, list[str]]]:
    """The benchmarks' assets, one market per partition, and each market's traders: accounts of
    the market's partition, so a command's accounts and matching work stay on one partition."""
    quote = make_asset(f"Q{tag}", 6, 0)
    assets, markets, traders = [quote], {}, {}
    for partition in range(partitions):
        base = make_asset(f"B{tag}{partition}", 8, 0)
        assets.append(base)
        symbol = f"{base['symbol']}_{quote['symbol']}"
        markets[symbol] = make_market(symbol, base, quote, tick="0.01", step="0.0001", maker_fee="0.001",
                                      taker_fee="0.002", partition=partition, ts=0)
        names = (f"bench-{tag}-{partition}-{i}" for i in itertools.count())
        traders[symbol] = list(itertools.islice(
            (a for a in names if account_partition(a, partitions) == partition), TRADERS_PER_MARKET))
    return assets, markets, traders


def funding(markets: dict[str, dict], traders: dict[str, list[str]], atoms: int) -> list[dict]:
    """Deposits of `atoms` of both its market's assets for every trader."""
    return [deposit(account, asset, atoms) for market, names in traders.items() for account in names
            for asset in (markets[market]["base"], markets[market]["quote"])]


async def define(settings: Settings) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Fresh benchmark markets (bench_markets), published: assets first, so every market's are known."""
    tag = "".join(random.choices(string.ascii_uppercase, k=4))
    assets, markets, traders = bench_markets(tag, settings.partitions)
    for asset in assets:
        await publish(settings, ASSETS, asset["symbol"], asset)
    for symbol, market in markets.items():
        await publish(settings, MARKETS, symbol, market)
    return markets, traders


class WorkerProcess:
    """A worker process (`exchange worker`, or `command`) for the length of the benchmark."""

    def __init__(self, settings: Settings, command: str = "worker") -> None:
        self.state = tempfile.mkdtemp(prefix=f"bench-{command}-")
        self.env = os.environ | settings.to_env() | {"EXCHANGE_STATE_DIR": self.state}
        self.command = command

    def __enter__(self):
        self.log = open(Path(self.state) / "worker.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "exchange.cli", self.command, "--name", "bench"],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


async def wait_caught_up(settings: Settings, timeout: float = 600.0, group: str = APP_GROUP,
                         topics: tuple[str, ...] = (COMMANDS.name, SETTLEMENTS.name, ORDERS.name)) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    tps = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ends = await consumer.end_offsets(tps)
            try:
                done = await admin.list_consumer_group_offsets(group)
            except Exception:  # group not formed yet
                done = {}
            if all((done[tp].offset if tp in done else 0) >= ends[tp] for tp in tps):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the worker did not catch up")
    finally:
        await consumer.stop()
        await admin.close()


async def latency(settings: Settings, producer: CommandProducer, flow: OrderFlow, rate: int, seconds: float) -> None:
    """At a steady rate, every 10th command a taker; latency = trade's Kafka time - taker's send time."""
    consumer = AIOKafkaConsumer(TRADES.name, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="latest")
    await consumer.start()
    await asyncio.sleep(1.0)
    sent_at: dict[int, int] = {}
    samples: list[int] = []

    async def collect() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    for trade in codec.decode_as(TRADES.record, record.value)["trades"]:
                        started = sent_at.pop(trade["taker_order_id"], None)
                        if started is not None:
                            samples.append(record.timestamp - started)

    collector = asyncio.create_task(collect())
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    begin = time.perf_counter()
    count = 0
    while time.perf_counter() - begin < seconds:
        batch = []
        for i in range(per_tick):
            command = flow.command(taker=(count + i) % 10 == 0)
            if (count + i) % 10 == 0:
                sent_at[command["body"][1]["order_id"]] = now_ms()
            batch.append(command)
        count += per_tick
        await producer.send(batch, wait=False)
        await asyncio.sleep(max(0.0, begin + count / rate - time.perf_counter()))
    await asyncio.sleep(3.0)
    collector.cancel()
    await consumer.stop()
    samples.sort()
    if not samples:
        print("latency: no trades observed")
        return
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    print(f"latency at {rate:,} commands/s: command -> trade p50 {p50} ms, p99 {p99} ms "
          f"({len(samples)} takers that traded)", flush=True)


async def raw_kafka_rate(settings: Settings, n: int) -> float:
    topic = f"bench-raw-{time.time_ns()}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=settings.partitions, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    payload = b"x" * 100
    started = time.perf_counter()
    try:
        for i in range(n):
            await producer.send(topic, payload, key=str(i % 1000).encode())
        await producer.flush()
        received = 0
        while received < n:
            received += sum(len(r) for r in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values())
        return n / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    raise SystemExit(main())
