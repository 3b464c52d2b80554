"""Faults the exchange rides through under REST load from several users, as clients see it.

- kill -9 of the worker (ten times), of the recorder and of an API process, and a restart of the
  Kafka broker, while users trade; clients retry as clients do (same client_order_id, the other
  API process). At the end, after cancel-all: every accepted order ended with its fills, no trade
  is doubled, money is conserved with no hold left, and the read side equals the event topics.
- Cassandra stopped for 60 s under load: orders keep being matched, reads that need Cassandra
  answer 503 (never 500, never a hang), and the read side catches up with nothing missing.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from exchange.kafka_io import publish
from exchange.reference import atoms_to_amount, make_asset, make_market
from infra.local.cassandra import CassandraNode
from infra.local.kafka import KafkaNode
from infra.local.toolchain import find_java
from schemas.topics import ASSETS, MARKETS
from streams.read_worker import READ_APP_ID, RECORDED
from streams.worker import APP_ID
from tests import checks
from tests.integration.flow import INPUTS, outcome, session_over_s, wait_until_quiet

pytestmark = pytest.mark.runs

USERS = 6
ENDED = {"FILLED", "CANCELED", "EXPIRED"}


async def own_market(infra) -> tuple[dict, dict]:
    """Base and quote assets of the test's own, so the fee account's balance in them is all ours."""
    tag = secrets.token_hex(3).upper()
    base, quote = make_asset(f"B{tag}", 6, 0), make_asset(f"Q{tag}", 6, 0)
    for asset in (base, quote):
        await publish(infra, ASSETS, asset["symbol"], asset)
    market = make_market(f"{base['symbol']}_{quote['symbol']}", base, quote, tick="0.01", step="0.01",
                         maker_fee="0.001", taker_fee="0.002", partition=random.randrange(infra.partitions), ts=0)
    await publish(infra, MARKETS, market["symbol"], market)
    await asyncio.sleep(2)  # every process picks it up from the compacted topics
    return market, {base["symbol"]: base, quote["symbol"]: quote}


class Trader:
    """One user placing and canceling orders over REST, retrying as a client does: on no answer
    or a 5xx, the same request again (same client_order_id), to the other API process."""

    def __init__(self, name: str, urls: list[str], market: dict) -> None:
        self.name, self.urls, self.market = name, urls, market
        self.account, self.auth = "", {}
        self.accepted: set[str] = set()  # ids of orders the exchange took
        self.open: list[str] = []
        self.retries = Counter()
        self.statuses = Counter()

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        for attempt in range(200):
            url = self.urls[attempt % len(self.urls)]
            try:
                async with httpx.AsyncClient(base_url=url, timeout=15) as http:
                    response = await http.request(method, path, headers=self.auth, **kwargs)
            except httpx.HTTPError as exc:
                self.retries[type(exc).__name__] += 1
            else:
                if response.status_code < 500:
                    return response
                self.retries[response.status_code] += 1
            await asyncio.sleep(0.5)
        raise AssertionError(f"{self.name}: {method} {path} found no API answering in time")

    async def sign_up(self) -> None:
        email = f"{self.name}-{secrets.token_hex(4)}@example.com"
        body = {"username": self.name, "email": email, "password": "fault-run-pass"}
        signup = await self.request("POST", "/api/v1/auth/signup", json=body)
        assert signup.status_code == 201, signup.text
        self.account = signup.json()["account_id"]
        login = await self.request("POST", "/api/v1/auth/login", json={"email": email, "password": body["password"]})
        self.auth = {"Authorization": f"Bearer {login.json()['token']}"}
        for asset in (self.market["base"], self.market["quote"]):
            for _ in range(60):  # until this API process knows the new assets
                funded = await self.request("POST", "/api/v1/wallet/deposits", json={"asset": asset, "amount": "1000"})
                if funded.status_code != 422:
                    break
                await asyncio.sleep(0.5)
            assert funded.status_code in (201, 202), funded.text

    async def trade(self, until: asyncio.Event, rng: random.Random, with_client_ids: bool = True) -> None:
        while not until.is_set():
            if self.open and rng.random() < 0.2:
                order_id = self.open.pop(rng.randrange(len(self.open)))
                canceled = await self.request("DELETE", f"/api/v1/orders/{order_id}")
                self.statuses[f"cancel {canceled.status_code}"] += 1
                continue
            body = {"market": self.market["symbol"], "side": rng.choice(["buy", "sell"]),
                    "price": f"{rng.randint(950, 1050) / 100:.2f}", "quantity": f"{rng.randint(1, 300) / 100:.2f}"}
            if with_client_ids:
                body["client_order_id"] = f"{self.name}-{secrets.token_hex(6)}"
            placed = await self.request("POST", "/api/v1/orders", json=body)
            self.statuses[f"place {placed.status_code}"] += 1
            if placed.status_code in (200, 201, 202) and placed.json().get("status") != "REJECTED":
                self.accepted.add(placed.json()["order_id"])
                self.open.append(placed.json()["order_id"])
            await asyncio.sleep(rng.uniform(0.0, 0.05))


class Load:
    """Every trader trading until `stop`; a trader that gave up fails the run at the next `check`."""

    def __init__(self, traders: list[Trader], with_client_ids: bool = True) -> None:
        self.until = asyncio.Event()
        self.tasks = [asyncio.create_task(t.trade(self.until, random.Random(n), with_client_ids))
                      for n, t in enumerate(traders)]

    def check(self) -> None:
        for task in self.tasks:
            if task.done():
                task.result()

    async def stop(self) -> None:
        """Stop every trader and wait for them; `check` afterwards raises what any of them raised."""
        self.until.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def quiet(infra, stack) -> None:
    await wait_until_quiet(infra, stack, group=APP_ID, inputs=INPUTS)
    await wait_until_quiet(infra, stack, group=READ_APP_ID, inputs=tuple(t.name for t in RECORDED))


async def settle_and_check(infra, stack, traders: list[Trader], market: dict, assets: dict) -> dict:
    """Cancel-all for everyone, then every promise of the exchange, checked; the run's figures."""
    await quiet(infra, stack)
    for trader in traders:
        canceled = await trader.request("DELETE", "/api/v1/orders", params={"market": market["symbol"]})
        assert canceled.status_code == 202, canceled.text
    await quiet(infra, stack)

    accounts = {t.account for t in traders}
    result = await outcome(infra, {market["symbol"]: market}, accounts)
    # Trades and books exactly what pure engines make of the accepted commands, each trade once;
    # money conserved; funds held for exactly the resting orders, which cancel-all left none of.
    checks.assert_consistent({market["symbol"]: market}, result.accounts, result.books, result.trades,
                             result.order_batches)
    assert result.books[market["symbol"]] == []
    assert all(b["held"] == 0 for state in result.accounts.values() for b in state["balances"].values())

    filled: Counter = Counter()
    for trade in result.trades.values():
        filled[str(trade["maker_order_id"])] += trade["quantity"]
        filled[str(trade["taker_order_id"])] += trade["quantity"]
    step = Decimal("0.01")
    for trader in traders:
        for order_id in trader.accepted:  # every accepted order ended, with exactly its fills
            order = (await trader.request("GET", f"/api/v1/orders/{order_id}")).json()
            assert order.get("status") in ENDED, (order_id, order)
            assert Decimal(order["filled_quantity"]) == filled[order_id] * step, (order_id, order)
        # The read side equals the event topics: balances as the accounts table has them,
        # and each of the user's fills once.
        balances = (await trader.request("GET", "/api/v1/balances")).json()["items"]
        shown = {b["asset"]: (b["available"], b["held"]) for b in balances
                 if b["asset"] in (market["base"], market["quote"])}
        state = result.accounts[trader.account]["balances"]
        assert shown == {asset: (atoms_to_amount(assets[asset], b["available"]), "0")
                         for asset, b in state.items()
                         if asset in (market["base"], market["quote"])}, trader.name
        mine = (await trader.request("GET", "/api/v1/my/trades", params={"market": market["symbol"],
                                                                          "limit": 500})).json()["items"]
        expected = sum((t["maker_account"] == trader.account) + (t["taker_account"] == trader.account)
                       for t in result.trades.values())
        assert len(mine) == expected and len({(f["trade_id"], f["role"]) for f in mine}) == expected, trader.name
    return {"orders": sum(len(t.accepted) for t in traders), "trades": len(result.trades)}


@pytest.fixture
def second_api(stack):
    yield stack.start_api("api-2")
    if "api-2" in stack.procs:
        stack.stop("api-2")


@pytest.mark.timeout(1200)
async def test_kill_9s_of_every_process_and_a_broker_restart_lose_nothing_and_double_nothing(
        infra, stack, second_api, capsys):
    market, assets = await own_market(infra)
    apis = [stack.base_url, second_api]
    traders = [Trader(f"fault{n}", apis[n % 2:] + apis[:n % 2], market) for n in range(USERS)]  # half use each
    await asyncio.gather(*(t.sign_up() for t in traders))
    await quiet(infra, stack)
    load = Load(traders)
    faults: Counter = Counter()
    started = time.monotonic()
    try:
        rng = random.Random(1)
        for round_ in range(10):
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            stack.kill("worker")
            faults["worker kill -9"] += 1
            if round_ == 2:
                stack.kill("recorder")
                faults["recorder kill -9"] += 1
            if round_ == 4:
                stack.kill("api-2")
                stack.start("api-2")  # a supervisor restarts it; its clients retry meanwhile
                faults["API kill -9"] += 1
            await asyncio.sleep(session_over_s(infra))
            stack.start("worker")
            if round_ == 2:
                stack.start("recorder")
            if round_ == 6:
                await asyncio.to_thread(_restart_kafka, infra)
                faults["Kafka broker restart"] += 1
            load.check()
        await asyncio.sleep(3)
    finally:
        await load.stop()
    load.check()
    loaded = time.monotonic() - started
    recovery_started = time.monotonic()
    figures = await settle_and_check(infra, stack, traders, market, assets)
    retries = sum((t.retries for t in traders), Counter())
    with capsys.disabled():
        print(f"\nfault run: {figures['orders']} orders accepted, {figures['trades']} trades in {loaded:.0f}s of load; "
              f"{dict(faults)}; client retries {dict(retries)}; settled and checked in "
              f"{time.monotonic() - recovery_started:.0f}s")


@pytest.mark.timeout(900)
async def test_cassandra_away_for_60_s_under_load(infra, stack, capsys):
    market, assets = await own_market(infra)
    traders = [Trader(f"cass{n}", [stack.base_url], market) for n in range(4)]
    await asyncio.gather(*(t.sign_up() for t in traders))
    await quiet(infra, stack)
    # Without client ids: a claim on one needs Cassandra, and placing must not.
    load = Load(traders, with_client_ids=False)
    node = CassandraNode(infra, fast_unsafe=True)
    reads: Counter = Counter()
    slowest = 0.0
    try:
        await asyncio.sleep(5)
        assert node.process.stop()
        away_from = time.monotonic()
        placed_before = sum(t.statuses["place 201"] for t in traders)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30, headers=traders[0].auth) as http:
            while time.monotonic() - away_from < 60:
                for path in ("/api/v1/balances", "/api/v1/orders", "/api/v1/orders/history", "/api/v1/my/trades"):
                    asked = time.monotonic()
                    response = await http.get(path)
                    slowest = max(slowest, time.monotonic() - asked)
                    reads[response.status_code] += 1
                    if response.status_code == 503:
                        assert response.json()["error"]["code"] == "unavailable"
                await asyncio.sleep(1.0)
        placed_while_away = sum(t.statuses["place 201"] for t in traders) - placed_before
    finally:
        if not await asyncio.to_thread(node.answers):
            node.start(find_java())
        while not await asyncio.to_thread(node.answers):
            await asyncio.sleep(1.0)
        back_at = time.monotonic()
        await asyncio.sleep(5)
        await load.stop()
    load.check()
    assert set(reads) <= {200, 503} and reads[503] > 0, reads  # never a 500
    assert slowest < 15, f"a read took {slowest:.1f}s while Cassandra was away"
    assert placed_while_away > 0, "orders were not matched while Cassandra was away"
    figures = await settle_and_check(infra, stack, traders, market, assets)
    with capsys.disabled():
        print(f"\nCassandra away 60 s: {placed_while_away} orders placed meanwhile, reads {dict(reads)} "
              f"(slowest {slowest:.1f}s); {figures['orders']} orders, {figures['trades']} trades; read side caught "
              f"up and checked {time.monotonic() - back_at:.0f}s after Cassandra answered again")


def _restart_kafka(infra) -> None:
    node = KafkaNode(infra)
    assert node.process.stop()
    node.start(find_java())
    deadline = time.monotonic() + 120
    while not node.answers():
        assert time.monotonic() < deadline, "the broker did not come back"
        time.sleep(1.0)
