"""Running real worker processes against the session's Kafka, and reading back what they did.

Every test gets assets, markets and accounts of its own (a random suffix), so tests share the
Kafka topics and the worker group without seeing each other's money.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import string
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from exchange.kafka_io import ensure_topics, publish
from exchange.reference import make_asset, make_market
from schemas.codec import codec
from schemas.topics import ASSETS, COMMANDS, MARKETS, ORDERS, SETTLEMENTS, TRADES
from streams.account import accounts_view
from streams.book_journal import BookJournal
from streams.worker import APP_ID
from tests.checks import unique_trades

REPO = Path(__file__).resolve().parents[2]
INPUTS = (COMMANDS.name, SETTLEMENTS.name, ORDERS.name)


def session_over_s(settings) -> float:
    """How long after a kill -9 the group has surely dropped the dead member (its session timeout,
    and a little): a supervisor restarting it sooner makes the group rebalance twice, and
    faust-streaming 0.15 can then fail to reopen its own RocksDB partitions (lock held)."""
    return settings.kafka_session_timeout_ms / 1000 + 2


def suffix() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=4))


async def define_markets(settings, tag: str, fees: tuple[str, str] = ("0.001", "0.002")) -> dict[str, dict]:
    """Two quote assets and one market per partition, with this test's own symbols."""
    await ensure_topics(settings)
    sol, usd = make_asset(f"S{tag}", 9, 0), make_asset(f"U{tag}", 6, 0)
    btc, usdt = make_asset(f"B{tag}", 8, 0), make_asset(f"T{tag}", 6, 0)
    for asset in (sol, usd, btc, usdt):
        await publish(settings, ASSETS, asset["symbol"], asset)
    markets = {}
    for partition in range(settings.partitions):
        base, quote = (sol, usd) if partition % 2 == 0 else (btc, usdt)
        symbol = f"{base['symbol']}{partition}_{quote['symbol']}"
        base_asset = {**base, "symbol": f"{base['symbol']}{partition}"}
        await publish(settings, ASSETS, base_asset["symbol"], base_asset)
        step = "0.001" if partition % 2 == 0 else "0.00001"
        tick = "0.01" if partition % 2 == 0 else "0.1"
        markets[symbol] = make_market(symbol, base_asset, quote, tick=tick, step=step, maker_fee=fees[0],
                                      taker_fee=fees[1], partition=partition, ts=0)
        await publish(settings, MARKETS, symbol, markets[symbol])
    return markets


class Workers:
    """Worker processes as an operator runs them: `exchange worker --name N`."""

    def __init__(self, settings, state_dir: Path) -> None:
        self.env = os.environ | settings.to_env() | {"EXCHANGE_STATE_DIR": str(state_dir)}
        self.logs = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: str = "worker", *options: str) -> None:
        """`command`: worker (order flow) or recorder (read side), with more `options` if given."""
        assert name not in self.procs, f"worker {name} is already running"
        log = open(self.logs / f"worker-{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", command, "--name", name, "--loglevel", "info", *options],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self, name: str) -> None:
        """kill -9: no chance to flush, commit or say goodbye."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_text(self, name: str) -> str:
        return (self.logs / f"worker-{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"workers exited: {dead}; logs in {self.logs}"

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


async def wait_until_quiet(settings, workers: Workers, timeout: float = 600.0, group: str = APP_ID,
                           inputs: tuple[str, ...] = INPUTS) -> None:
    """Until a worker group (by default the order flow's) has committed every input message,
    twice in a row."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in inputs for p in range(settings.partitions)]
        deadline = asyncio.get_running_loop().time() + timeout
        quiet_rounds = 0
        behind: dict[TopicPartition, tuple[int, int]] = {}
        while quiet_rounds < 2:
            workers.check_alive()
            assert asyncio.get_running_loop().time() < deadline, (
                f"the {group} group did not catch up in {timeout:.0f}s; behind (committed, end): "
                f"{ {f'{tp.topic}[{tp.partition}]': offsets for tp, offsets in behind.items()} }\n"
                f"{log_tails(workers.logs)}")
            ends = await consumer.end_offsets(tps)
            try:
                committed = await admin.list_consumer_group_offsets(group)
            except GroupCoordinatorNotAvailableError:  # a fresh broker: the group is not there yet
                committed = {}
            behind = {tp: (committed[tp].offset if tp in committed else 0, ends[tp]) for tp in tps}
            behind = {tp: offsets for tp, offsets in behind.items() if offsets[0] < offsets[1]}
            quiet_rounds = quiet_rounds + 1 if not behind else 0
            await asyncio.sleep(1.0)
    finally:
        await consumer.stop()
        await admin.close()


def log_tails(logs: Path, lines: int = 12) -> str:
    """The last warnings and errors of each process's log: what a failed wait shows in CI, where
    the logs themselves are gone with the run."""
    out = []
    for log in sorted(logs.glob("*.log")):
        noisy = [line for line in log.read_text(errors="replace").splitlines()
                 if any(f'"level":"{level}"' in line for level in ("warning", "error", "critical"))
                 or "Traceback" in line]
        out.append(f"--- {log.name}: {len(noisy)} warnings and errors, the last {min(lines, len(noisy))}:")
        out.extend(line[:400] for line in noisy[-lines:])
    return "\n".join(out)


async def read_topic(settings, name: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) of a topic, partition by partition, up to its current end."""
    return [(key, value) for _, key, value in await read_partitions(settings, name)]


async def read_partitions(settings, name: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every (partition, key, value) of a topic, partition by partition, up to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(settings, name)
        tps = [TopicPartition(name, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = []
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    if record.offset < ends[tp]:
                        out.append((tp.partition, record.key, record.value))
        return out
    finally:
        await consumer.stop()


async def partitions_of(settings, name: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([name])
        return sorted(p["partition"] for p in description["partitions"])
    finally:
        await admin.close()


async def table(settings, name: str) -> dict[str, dict]:
    """A Faust table as its changelog holds it: latest value per key, tombstones removed."""
    rows: dict[str, dict] = {}
    for key, value in await read_topic(settings, f"{APP_ID}-{name}-changelog"):
        if value is None:
            rows.pop(key.decode(), None)
        else:
            rows[key.decode()] = codec.decode(value)[1]
    return rows


class Outcome:
    """What a run left behind, for the markets and accounts of one test."""

    def __init__(self, markets: dict[str, dict], accounts: dict[str, dict], book_rows: dict[str, dict],
                 trade_batches: list[dict], order_batches: list[dict]) -> None:
        self.markets = markets
        self.accounts = accounts
        restored = BookJournal(book_rows).restore(markets)
        self.books = {market: sorted(state.rows) for market, state in restored.items()}
        self.trades = unique_trades(trade_batches)
        self.order_batches = order_batches


async def outcome(settings, markets: dict[str, dict], account_names: set[str]) -> Outcome:
    assets = {m["base"] for m in markets.values()} | {m["quote"] for m in markets.values()}
    accounts = accounts_view(await table(settings, "accounts"))
    ours = {name: state for name, state in accounts.items() if name in account_names}
    # The fee account is shared by every test: keep only this test's assets of it.
    fees = accounts.get("exchange-fees")
    if fees:
        ours["exchange-fees"] = {**fees, "balances": {a: b for a, b in fees["balances"].items() if a in assets}}
    book_rows = {k: v for k, v in (await table(settings, "book")).items() if v["market"] in markets}
    trades = await market_records(settings, TRADES, markets)
    orders = await market_records(settings, ORDERS, markets)
    return Outcome(markets, ours, book_rows, trades, orders)


async def market_records(settings, topic, markets) -> list[dict]:
    """The records of some markets on a market-keyed topic. Only those are decoded: the topics are
    shared, and another test puts garbage on them (test_dead_letters.py)."""
    return [codec.decode_as(topic.record, value) for key, value in await read_topic(settings, topic.name)
            if key is not None and key.decode(errors="replace") in markets]
