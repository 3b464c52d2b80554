"""`exchange demo`: a market-making bot that keeps the demo markets moving.

It trades over the REST API as any client would, so it works against whatever exchange the API
serves. Two maker accounts keep a ladder of bids and asks around a reference price that takes a
random walk; a taker account now and then sends an IOC order across the spread, which makes
trades, candles and ticker changes. The accounts are signed up on first use; in development mode
(what `make run` uses) the API credits them demo balances.

Prices are integer ticks inside and decimal strings on the wire, as everywhere in the exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal

import httpx

from exchange.config import Settings

# Where a market starts when it has no trades yet: the demo markets' usual neighbourhood.
START_PRICES = {"SOL_USDC": "150", "BTC_USDT": "60000", "ETH_USDT": "3000"}
# Order sizes in quote units: small next to the demo balances (100,000 USDC/USDT each), so the
# bot's accounts last for days of random walk.
QUOTE_SIZE = (20, 200)
PASSWORD = "demo-bot-password"


@dataclass
class Quoted:
    """One market as the bot sees it: its grid and the reference price, in ticks."""

    symbol: str
    tick: Decimal
    step: Decimal
    mid: int  # ticks
    start: int  # ticks; the walk stays between three quarters and one and a half of it
    trades: int = 0

    def price(self, ticks: int) -> str:
        return f"{self.tick * ticks:f}"

    def quantity(self, rng: random.Random, ticks: int) -> str:
        notional = Decimal(rng.randint(*QUOTE_SIZE))
        steps = max(1, int(notional / (self.tick * ticks) / self.step))
        return f"{self.step * steps:f}"


@dataclass
class Trader:
    email: str
    token: str = ""
    rejected: dict[str, int] = field(default_factory=dict)


class DemoError(Exception):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="the REST API's base URL (default: http://127.0.0.1:$API_PORT)")
    parser.add_argument("--markets", default=",".join(START_PRICES),
                        help="comma-separated markets, each optionally SYMBOL=START_PRICE")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between requoting rounds")
    parser.add_argument("--levels", type=int, default=5, help="bids and asks per maker per market")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--account-prefix", default="demo-bot", help="the bot's accounts are <prefix>-...@example.com")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    args.api = args.api or settings.api_url
    args.verify = settings.tls_cert_file or True  # the API's own certificate, when it serves TLS
    try:
        return asyncio.run(_run(args))
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    async with httpx.AsyncClient(base_url=args.api, timeout=10, verify=args.verify) as http:
        makers = [Trader(f"{args.account_prefix}-maker-{i}@example.com") for i in (1, 2)]
        taker = Trader(f"{args.account_prefix}-taker@example.com")
        for trader in (*makers, taker):
            await _sign_in(http, trader)
        await _check_funded(http, makers[0])
        markets = [await _market(http, spec) for spec in args.markets.split(",") if spec]
        print(f"demo: making markets in {', '.join(m.symbol for m in markets)} via {args.api}; Ctrl-C stops",
              flush=True)
        stop = time.monotonic() + args.seconds if args.seconds else float("inf")
        # Ctrl-C or SIGTERM ends the round in progress, then the quotes are canceled.
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
        rounds, last_report = 0, time.monotonic()
        try:
            while time.monotonic() < stop and not stopping.is_set():
                for market in markets:
                    _walk(rng, market)
                    for i, maker in enumerate(makers):
                        await _requote(http, rng, maker, market, args.levels, offset=i)
                    if rng.random() < 0.7:
                        await _take(http, rng, taker, market)
                rounds += 1
                if time.monotonic() - last_report >= 10:
                    last_report = time.monotonic()
                    print("demo: " + ", ".join(f"{m.symbol} {m.price(m.mid)} ({m.trades} taker fills)"
                                               for m in markets), flush=True)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopping.wait(), args.interval)
        finally:
            for maker in makers:  # leave no stale quotes behind
                for market in markets:
                    await _send(http, maker, "DELETE", "/api/v1/orders", params={"market": market.symbol})
    return 0


async def _sign_in(http: httpx.AsyncClient, trader: Trader) -> None:
    username = trader.email.split("@")[0].replace("-", "_")[:32]
    try:
        signup = await http.post("/api/v1/auth/signup",
                                 json={"username": username, "email": trader.email, "password": PASSWORD})
    except httpx.HTTPError as exc:
        raise DemoError(f"the API at {http.base_url} does not answer ({exc}); "
                        "is the exchange running (make run)?") from exc
    if signup.status_code not in (201, 409):
        raise DemoError(f"signing up {trader.email} failed: {signup.status_code} {signup.text}")
    login = await http.post("/api/v1/auth/login", json={"email": trader.email, "password": PASSWORD})
    if login.status_code != 200:
        raise DemoError(f"logging in {trader.email} failed: {login.status_code} {login.text}")
    trader.token = login.json()["token"]


async def _check_funded(http: httpx.AsyncClient, trader: Trader) -> None:
    """Demo balances are credited at signup in development only; without them every order fails."""
    for _ in range(50):  # the signup's deposits are on their way through the order flow
        balances = (await _send(http, trader, "GET", "/api/v1/balances")).json()
        if any(Decimal(b["available"]) + Decimal(b["held"]) > 0 for b in balances.get("items", [])):
            return
        await asyncio.sleep(0.2)
    raise DemoError(f"{trader.email} has no funds: demo balances are credited in development mode only")


async def _market(http: httpx.AsyncClient, spec: str) -> Quoted:
    symbol, _, start = spec.partition("=")
    response = await http.get(f"/api/v1/markets/{symbol}")
    if response.status_code != 200:
        raise DemoError(f"no market {symbol}")
    grid = response.json()
    tick, step = Decimal(grid["tick"]), Decimal(grid["step"])
    ticker = await http.get("/api/v1/ticker", params={"market": symbol})
    if ticker.status_code == 200:
        start = ticker.json()["last"]  # carry on from where the market is
    elif not start:
        start = START_PRICES.get(symbol)
        if start is None:
            raise DemoError(f"{symbol} has no trades yet: give a start price as {symbol}=PRICE")
    mid = int(Decimal(start) / tick)
    return Quoted(symbol, tick, step, mid=mid, start=mid)


def _walk(rng: random.Random, market: Quoted) -> None:
    """A step of a few basis points, pulled back towards the start so the demo never drifts off."""
    size = max(1, market.mid // 2000)
    pull = -1 if 2 * market.mid > 3 * market.start else 1 if 4 * market.mid < 3 * market.start else 0
    market.mid = max(1, market.mid + size * (rng.randint(-2, 2) + pull))


async def _requote(http: httpx.AsyncClient, rng: random.Random, maker: Trader, market: Quoted, levels: int,
                   offset: int) -> None:
    """Cancel the maker's quotes in the market and lay a new ladder around the reference price.

    The cancel-all and the new orders are the same account's commands, so the order flow applies
    them in this order."""
    await _send(http, maker, "DELETE", "/api/v1/orders", params={"market": market.symbol})
    gap = max(1, market.mid // 1000)  # ten basis points between levels
    orders = []
    for level in range(1, levels + 1):
        distance = gap * level + offset
        for side, ticks in (("buy", market.mid - distance), ("sell", market.mid + distance)):
            if ticks > 0:
                orders.append({"market": market.symbol, "side": side, "price": market.price(ticks),
                               "quantity": market.quantity(rng, ticks), "post_only": True})
    await asyncio.gather(*(_place(http, maker, order) for order in orders))


async def _take(http: httpx.AsyncClient, rng: random.Random, taker: Trader, market: Quoted) -> None:
    side = rng.choice(("buy", "sell"))
    limit = market.mid + (1 if side == "buy" else -1) * max(1, market.mid // 200)
    body = {"market": market.symbol, "side": side, "price": market.price(limit),
            "quantity": market.quantity(rng, limit), "time_in_force": "IOC"}
    placed = await _place(http, taker, body)
    if placed and Decimal(placed.get("filled_quantity", "0")) > 0:
        market.trades += 1


async def _place(http: httpx.AsyncClient, trader: Trader, order: dict) -> dict | None:
    response = await _send(http, trader, "POST", "/api/v1/orders", json=order)
    if response.status_code not in (200, 201, 202):
        reason = response.json().get("error", {}).get("code", str(response.status_code))
        trader.rejected[reason] = trader.rejected.get(reason, 0) + 1
        return None
    placed = response.json()
    if placed.get("status") == "REJECTED":
        reason = placed.get("reject_reason") or "rejected"
        if reason != "post_only_would_trade":  # the walk moved under a quote: expected now and then
            trader.rejected[reason] = trader.rejected.get(reason, 0) + 1
            if trader.rejected[reason] in (1, 10, 100, 1000):
                print(f"demo: {trader.email}: {trader.rejected[reason]} order(s) rejected ({reason})", flush=True)
    return placed


async def _send(http: httpx.AsyncClient, trader: Trader, method: str, path: str, **kwargs) -> httpx.Response:
    """One request as the trader; logs in again if the token expired."""
    for attempt in (1, 2):
        headers = {"Authorization": f"Bearer {trader.token}"}
        response = await http.request(method, path, headers=headers, **kwargs)
        if response.status_code != 401 or attempt == 2:
            return response
        await _sign_in(http, trader)
    return response
