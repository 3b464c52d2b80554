"""Binance's streams on the hub: raw and combined streams, SUBSCRIBE and its replies, a local book
kept from /api/v3/depth and @depth diffs, user data by listen key and through python-binance's
socket manager (which takes user data over the WebSocket API)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from exchange.tls import local_certificate
from infra.local.ports import free_port

from .binance_clients import ccxt_defaults, eight, trader
from .markets import fresh_market
from .test_api import fund
from .test_binance_rest import signed_request

pytestmark = pytest.mark.timeout(600)


def hub_root(stack) -> str:
    return stack.ws_url.removesuffix("/ws")


def binance_market(infra) -> dict:
    """A market of its own (no order another test left can meet its orders), with its Binance symbol."""
    created = asyncio.run(fresh_market(infra))
    return {**created, "binance": created["base"] + created["quote"]}


@pytest.fixture(scope="module")
def market(stack, infra):
    return binance_market(infra)


@pytest.fixture(scope="module")
def users(stack, market):
    made = []
    for name in ("maker", "taker"):
        user = trader(stack.base_url, name)
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            fund(http, user["auth"], market["base"], "100000")
            fund(http, user["auth"], "USDC", "10000000")
        made.append(user)
    return made


def place(http, user, market, side: str, price: str, quantity: str, kind: str = "LIMIT") -> dict:
    params = {"symbol": market["binance"], "side": side, "type": kind, "quantity": quantity}
    if kind == "LIMIT":
        params.update(price=price, timeInForce="GTC")
    answer = signed_request(http, "POST", "/api/v3/order", user, params, in_body=True)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def until(ws, check, timeout: float = 30.0) -> dict:
    """The first message `check` accepts."""
    deadline = time.monotonic() + timeout
    while True:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if check(message):
            return message


def test_raw_and_combined_streams_send_binance_events(stack, market, users):
    maker, taker = users
    symbol = market["binance"].lower()

    async def run() -> None:
        streams = f"{symbol}@aggTrade/{symbol}@kline_1m/{symbol}@depth5"
        async with websockets.connect(f"{hub_root(stack)}/ws/{symbol}@trade") as raw, \
                websockets.connect(f"{hub_root(stack)}/stream?streams={streams}") as combined, \
                websockets.connect(f"{hub_root(stack)}/ws") as subscriber:
            subscribe = {"method": "SUBSCRIBE", "params": [f"{symbol}@ticker", f"{symbol}@bookTicker",
                                                           f"{symbol}@miniTicker"], "id": 7}
            await subscriber.send(orjson.dumps(subscribe).decode())  # Binance takes text frames
            # Replies come in order; the book ticker's first event (the book read) may come between them.
            assert (await until(subscriber, lambda m: "id" in m)) == {"result": None, "id": 7}
            await subscriber.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}).decode())
            assert (await until(subscriber, lambda m: "id" in m)) == {"result": sorted(subscribe["params"]), "id": 8}
            metrics = httpx.get(stack.metrics_urls["ws"], timeout=10).text
            subscribed = next(line for line in metrics.splitlines()
                              if line.startswith("exchange_ws_subscribed_clients"))
            assert int(subscribed.split()[1]) >= 3  # Binance's stream clients count too
            await asyncio.sleep(0.5)
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                await asyncio.to_thread(place, http, maker, market, "SELL", "10.5", "2")
                await asyncio.to_thread(place, http, taker, market, "BUY", "10.5", "1")
            trade = await until(raw, lambda m: m.get("e") == "trade")
            expected = (market["binance"], eight("10.5"), eight("1"), False)
            assert (trade["s"], trade["p"], trade["q"], trade["m"]) == expected
            got: list[dict] = []  # three streams, interleaved as their topics come
            await until(combined, lambda m: got.append(m) or {f"{symbol}@{kind}" for kind in (
                "aggTrade", "kline_1m", "depth5")} <= {g["stream"] for g in got if g["stream"] != f"{symbol}@depth5"
                                                       or g["data"]["asks"] == [[eight("10.5"), eight("1")]]})
            agg = next(g["data"] for g in got if g["stream"] == f"{symbol}@aggTrade")
            assert agg["e"] == "aggTrade" and agg["a"] == trade["t"]
            kline = next(g["data"] for g in got if g["stream"] == f"{symbol}@kline_1m")
            assert kline["k"]["c"] == eight("10.5") and kline["k"]["i"] == "1m"
            top = [g["data"] for g in got if g["stream"] == f"{symbol}@depth5"][-1]
            assert (top["asks"], top["bids"]) == ([[eight("10.5"), eight("1")]], [])
            seen: list[dict] = []
            await until(subscriber, lambda m: seen.append(m) or m.get("e") == "24hrTicker")
            ticker = seen[-1]
            assert ticker["c"] == eight("10.5") and ticker["s"] == market["binance"]
            await until(subscriber, lambda m: seen.append(m) or m.get("e") == "24hrMiniTicker")
            assert seen[-1]["c"] == eight("10.5") and seen[-1]["v"] == eight("1")
            books = [m for m in seen if "u" in m and m.get("a") == eight("10.5")]  # book tickers, before the ticker
            assert [(b["A"], b["b"]) for b in books[-1:]] == [(eight("1"), eight("0"))]  # 1 left of the ask, no bid

    asyncio.run(run())


def test_a_local_book_from_the_snapshot_and_diffs_equals_the_exchanges(stack, market, users):
    """Binance's documented algorithm: buffer @depth events, fetch /api/v3/depth, drop events
    with u <= lastUpdateId, the first one kept has U <= lastUpdateId + 1 <= u, then apply each."""
    symbol = market["binance"]
    rng = random.Random(5)

    async def run() -> tuple[dict, dict, int]:
        buffered: list[dict] = []
        async with websockets.connect(f"{hub_root(stack)}/ws/{symbol.lower()}@depth", max_size=2**22) as ws:
            async def read() -> None:
                async for text in ws:
                    buffered.append(orjson.loads(text))

            reader = asyncio.create_task(read())
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                def trade_a_while(count: int) -> None:
                    for _ in range(count):
                        user = rng.choice([users[0], users[1]])
                        side = rng.choice(["BUY", "SELL"])
                        price = str(Decimal(rng.randint(900, 1100)) / 100)
                        place(http, user, market, side, price, str(rng.randint(1, 20)))

                await asyncio.to_thread(trade_a_while, 150)
                snapshot = http.get("/api/v3/depth", params={"symbol": symbol, "limit": 5000}).json()
                await asyncio.to_thread(trade_a_while, 150)
                await asyncio.sleep(3)  # the read side catches up; the stream has everything
                final = http.get("/api/v3/depth", params={"symbol": symbol, "limit": 5000}).json()
            reader.cancel()
        local = {"bids": {p: q for p, q in snapshot["bids"]}, "asks": {p: q for p, q in snapshot["asks"]}}
        last = snapshot["lastUpdateId"]
        events = [e for e in buffered if e["u"] > last]
        assert events and events[0]["U"] <= last + 1 <= events[0]["u"]
        for event in events:
            assert event["U"] <= last + 1, "a gap in the diff stream"
            for side, levels in (("bids", event["b"]), ("asks", event["a"])):
                for price, quantity in levels:
                    if Decimal(quantity) == 0:
                        local[side].pop(price, None)
                    else:
                        local[side][price] = quantity
            last = event["u"]
        return local, final, last

    local, final, last = asyncio.run(run())
    assert final["lastUpdateId"] == last
    assert local["bids"] == dict(final["bids"]) and local["asks"] == dict(final["asks"])
    assert max(map(Decimal, local["bids"]), default=0) < min(map(Decimal, local["asks"]), default=10**9)


def test_a_listen_key_streams_its_own_accounts_user_data_only(stack, market, users):
    maker, taker = users
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        made = http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": maker["key"]})
        key = made.json()["listenKey"]
        again = http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": maker["key"]})
        assert again.json()["listenKey"] == key  # the live key, kept alive
        assert http.put("/api/v3/userDataStream", params={"listenKey": key},
                        headers={"X-MBX-APIKEY": maker["key"]}).json() == {}
        foreign = http.put("/api/v3/userDataStream", params={"listenKey": key},
                           headers={"X-MBX-APIKEY": taker["key"]})
        assert foreign.json()["code"] == -1125

        async def run() -> tuple[list[dict], dict]:
            async with websockets.connect(f"{hub_root(stack)}/ws/{key}") as ws:
                await asyncio.sleep(0.5)
                placed = await asyncio.to_thread(place, http, maker, market, "SELL", "50", "3")
                others = await asyncio.to_thread(place, http, taker, market, "BUY", "1", "1")  # not the maker's
                seen: list[dict] = []  # the hold's balance and the order's report come from two topics

                def both(message: dict) -> bool:
                    seen.append(message)
                    return {"executionReport", "outboundAccountPosition"} <= {m.get("e") for m in seen}

                await until(ws, both)
                [report] = [m for m in seen if m.get("e") == "executionReport"]
                assert (report["i"], report["x"], report["X"], report["S"]) == (placed["orderId"], "NEW", "NEW",
                                                                                 "SELL")
                assert (report["p"], report["q"], report["o"]) == (eight("50"), eight("3"), "LIMIT")
                position = next(m for m in seen if m.get("e") == "outboundAccountPosition")
                assert {b["a"] for b in position["B"]} >= {market["base"]}
                received = []
                try:
                    while True:
                        received.append(orjson.loads(await asyncio.wait_for(ws.recv(), 2)))
                except asyncio.TimeoutError:
                    pass
                return received, others

        rest, others = asyncio.run(run())
        assert not [m for m in rest if m.get("e") == "executionReport" and m["i"] == others["orderId"]]
        assert http.delete("/api/v3/userDataStream", params={"listenKey": key},
                           headers={"X-MBX-APIKEY": maker["key"]}).json() == {}
        gone = http.put("/api/v3/userDataStream", params={"listenKey": key}, headers={"X-MBX-APIKEY": maker["key"]})
        assert gone.json()["code"] == -1125

        async def refused() -> None:
            async with websockets.connect(f"{hub_root(stack)}/ws/{key}") as ws:
                await ws.recv()

        with pytest.raises(websockets.InvalidStatus):  # refused at the handshake
            asyncio.run(refused())


def test_python_binance_socket_manager_gets_trades_depth_and_user_data(stack, infra, users):
    from binance import AsyncClient, BinanceSocketManager
    from binance.ws.websocket_api import WebsocketAPI

    maker, taker = users
    market = binance_market(infra)
    symbol = market["binance"]
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        fund(http, maker["auth"], market["base"], "10")

    async def run() -> None:
        client = AsyncClient(taker["key"], taker["secret"])
        client.API_URL = f"{stack.base_url}/api"
        client.ws_api = WebsocketAPI(url=f"{hub_root(stack)}/ws-api/v3")
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = f"{hub_root(stack)}/"
        try:
            async with manager.trade_socket(symbol) as trades, manager.depth_socket(symbol) as depth, \
                    manager.user_socket() as user:
                await asyncio.sleep(0.5)
                with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                    await asyncio.to_thread(place, http, maker, market, "SELL", "20", "1")
                    bought = await asyncio.to_thread(place, http, taker, market, "BUY", "20", "1")
                trade = await _next(trades, lambda m: m.get("e") == "trade")
                assert trade["p"] == eight("20") and trade["s"] == symbol
                diff = await _next(depth, lambda m: m.get("e") == "depthUpdate")
                assert diff["s"] == symbol and diff["u"] >= diff["U"]
                report = await _next(user, lambda m: m.get("e") == "executionReport" and m["X"] == "FILLED")
                assert report["i"] == bought["orderId"] and report["z"] == eight("1") and report["L"] == eight("20")
        finally:
            await client.close_connection()
            await client.ws_api.__aexit__(None, None, None)

    asyncio.run(run())


async def _next(socket, check, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(socket.recv(), max(0.1, deadline - time.monotonic()))
        if check(message):
            return message


def test_ccxt_pro_streams_with_only_its_urls_changed(stack, infra, users):
    """ccxt.pro connects to /ws/<a number> and sends SUBSCRIBE; user data comes over the WebSocket
    API. With its default options, load_markets also asks for currencies and futures markets."""
    import ccxt.pro as ccxtpro

    maker, taker = users
    market = binance_market(infra)
    pair = f"{market['base']}/{market['quote']}"
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        fund(http, maker["auth"], market["base"], "10")

    async def run() -> None:
        exchange = ccxt_defaults(ccxtpro, stack.base_url, hub_root(stack), taker["key"], taker["secret"])
        try:
            await exchange.load_markets()
            assert pair in exchange.markets and exchange.currencies[market["base"]]["precision"]
            watchers = {name: asyncio.create_task(call) for name, call in {
                "book": exchange.watch_order_book(pair),  # answers once the book changes
                "trades": exchange.watch_trades(pair), "ohlcv": exchange.watch_ohlcv(pair, "1m"),
                "ticker": exchange.watch_ticker(pair), "orders": exchange.watch_orders(pair),
                "balance": exchange.watch_balance(), "my_trades": exchange.watch_my_trades(pair)}.items()}
            await asyncio.sleep(1.0)
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                await asyncio.to_thread(place, http, maker, market, "SELL", "20", "2")
            await asyncio.sleep(0.5)
            order = await exchange.create_order(pair, "limit", "buy", 1, 20)
            done = {}
            for name, task in watchers.items():
                try:
                    done[name] = await asyncio.wait_for(task, 30)
                except TimeoutError:
                    raise AssertionError(f"ccxt.pro's watch of {name} got nothing in 30 s") from None
            assert done["trades"][-1]["price"] == 20 and done["trades"][-1]["amount"] == 1
            assert done["ohlcv"][-1][4] == 20
            assert done["ticker"]["last"] == 20
            assert order["id"] in {o["id"] for o in done["orders"]}
            assert market["quote"] in done["balance"]
            streamed = done["my_trades"][-1]
            [rest] = [t for t in await exchange.fetch_my_trades(pair) if t["order"] == order["id"]]
            assert (streamed["order"], streamed["id"], streamed["fee"]["cost"]) == (order["id"], rest["id"],
                                                                                   rest["fee"]["cost"])
            deadline = time.monotonic() + 30  # the local book ccxt.pro keeps from the diffs
            while exchange.orderbooks[pair]["asks"][:1] != [[20.0, 1.0]] and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            book, snapshot = exchange.orderbooks[pair], await exchange.fetch_order_book(pair)
            assert book["asks"] == snapshot["asks"] == [[20.0, 1.0]] and book["bids"] == snapshot["bids"]
        finally:
            await asyncio.wait_for(exchange.close(), 10)

    asyncio.run(run())


def test_binance_connector_style_streams_user_data_and_errors(stack, infra, users):
    """binance-connector's defaults: @depth@1000ms and @depth5@1000ms, user data by SUBSCRIBE
    ["<listenKey>"] on a stream connection; errors come in Binance's shape on Binance's paths."""
    maker, taker = users
    market = binance_market(infra)
    symbol = market["binance"].lower()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        fund(http, maker["auth"], market["base"], "10")
        key = http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": taker["key"]}).json()["listenKey"]

    async def run() -> None:
        async with websockets.connect(f"{hub_root(stack)}/ws/0") as ws, \
                websockets.connect(f"{hub_root(stack)}/stream") as combined:
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "id": 1, "params": [
                f"{symbol}@depth@1000ms", f"{symbol}@depth5@1000ms", key]}).decode())
            assert (await until(ws, lambda m: "id" in m)) == {"result": None, "id": 1}
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}).decode())
            listed = await until(ws, lambda m: m.get("id") == 2)
            assert set(listed["result"]) == {f"{symbol}@depth@1000ms", f"{symbol}@depth5@1000ms", key}
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "id": 3, "params": ["nosuch@trade"]}).decode())
            refused = await until(ws, lambda m: m.get("id") == 3)
            assert refused["error"]["code"] == 2 and refused["error"]["msg"].startswith("Invalid request")
            await ws.send("{not json")
            assert (await until(ws, lambda m: "error" in m))["error"]["code"] == 3
            await combined.send(orjson.dumps({"method": "SUBSCRIBE", "id": 4, "params": [key]}).decode())
            assert (await until(combined, lambda m: "id" in m)) == {"result": None, "id": 4}
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                await asyncio.to_thread(place, http, maker, market, "SELL", "30", "1")
                bought = await asyncio.to_thread(place, http, taker, market, "BUY", "30", "1")
            seen: list[dict] = []  # the book's diffs and the user's reports, interleaved
            report = await until(ws, lambda m: seen.append(m) or (m.get("e") == "executionReport"
                                                                   and m["X"] == "FILLED"))
            assert report["i"] == bought["orderId"] and report["z"] == eight("1") and report["L"] == eight("30")
            wrapped = await until(combined, lambda m: m.get("data", {}).get("e") == "executionReport"
                                  and m["data"]["X"] == "FILLED")
            assert wrapped["stream"] == key and wrapped["data"]["i"] == bought["orderId"]
            diffs = [m for m in seen if m.get("e") == "depthUpdate"] or [
                await until(ws, lambda m: m.get("e") == "depthUpdate")]
            assert diffs[0]["s"] == market["binance"]

    asyncio.run(run())


def test_reports_of_orders_placed_before_the_hub_started_carry_their_terms(stack, infra, users):
    """The hub learns an order's terms from its first update; for an order placed before the hub
    started it reads them from the read side, so its later reports keep price, quantity, type and
    client order id (a client rebuilding its orders from the reports would see zeros otherwise)."""
    maker, taker = users
    market = binance_market(infra)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        fund(http, maker["auth"], market["base"], "10")
        resting = signed_request(http, "POST", "/api/v3/order", maker, {
            "symbol": market["binance"], "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "2",
            "price": "40", "newClientOrderId": "before-the-hub"}, in_body=True).json()
        stack.stop("ws")
        stack.start("ws")
        stack.wait_ready()
        key = http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": maker["key"]}).json()["listenKey"]

        async def run() -> list[dict]:
            async with websockets.connect(f"{hub_root(stack)}/ws/{key}") as ws:
                await asyncio.sleep(0.5)
                await asyncio.to_thread(place, http, taker, market, "BUY", "40", "0.5")
                partly = await until(ws, lambda m: m.get("e") == "executionReport")
                await asyncio.to_thread(signed_request, http, "DELETE", "/api/v3/order", maker, {
                    "symbol": market["binance"], "orderId": resting["orderId"]})
                return [partly, await until(ws, lambda m: m.get("e") == "executionReport" and m["X"] == "CANCELED")]

        reports = asyncio.run(run())
    for report in reports:
        assert report["i"] == resting["orderId"]
        assert (report["p"], report["q"], report["o"], report["f"], report["c"]) == (
            eight("40"), eight("2"), "LIMIT", "GTC", "before-the-hub"), report
    assert (reports[0]["x"], reports[0]["l"], reports[1]["z"]) == ("TRADE", eight("0.5"), eight("0.5"))


def test_python_binance_depth_cache_equals_the_exchanges_book(stack, market, users):
    """The cache deletes a level only on "0.00000000": with any other zero it keeps dead levels."""
    from binance import AsyncClient, DepthCacheManager

    maker, _ = users
    symbol = market["binance"]
    rng = random.Random(11)

    async def run() -> None:
        client = AsyncClient(maker["key"], maker["secret"])
        client.API_URL = f"{stack.base_url}/api"
        manager = DepthCacheManager(client, symbol, refresh_interval=0, limit=5000)
        manager._bm.STREAM_URL = f"{hub_root(stack)}/"
        try:
            async with manager as cache_socket:
                with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                    placed = []
                    for _ in range(40):
                        price = str(Decimal(rng.randint(100, 140)) / 10)
                        placed.append(await asyncio.to_thread(place, http, maker, market, "SELL", price, "1"))
                    for order in placed[::2]:  # half of the levels' orders cancelled: some levels go to zero
                        answer = signed_request(http, "DELETE", "/api/v3/order", maker,
                                                {"symbol": symbol, "orderId": order["orderId"]})
                        assert answer.status_code == 200, answer.text
                    await asyncio.sleep(2)
                    book = http.get("/api/v3/depth", params={"symbol": symbol, "limit": 5000}).json()
                deadline = time.monotonic() + 30
                while True:
                    cache = await asyncio.wait_for(cache_socket.recv(), 30)
                    asks = [[f"{p:.8f}", f"{q:.8f}"] for p, q in cache.get_asks()]
                    bids = [[f"{p:.8f}", f"{q:.8f}"] for p, q in cache.get_bids()]
                    if (asks, bids) == (book["asks"], book["bids"]) or time.monotonic() > deadline:
                        break
                assert (asks, bids) == (book["asks"], book["bids"])
        finally:
            await client.close_connection()

    asyncio.run(run())


def test_with_a_certificate_the_api_and_hub_serve_https_and_wss_to_a_wss_only_client(stack, infra, users,
                                                                                     tmp_path):
    """cryptofeed refuses anything but wss://: it reads exchangeInfo over https and trades over wss."""
    maker, taker = users
    market = binance_market(infra)
    cert, key = local_certificate(tmp_path)
    tls = {"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)}
    api_port, ws_port = free_port(), free_port()
    stack.start("api-tls", "api", env={**tls, "API_PORT": str(api_port)})
    stack.start("ws-tls", "ws", env={**tls, "WS_PORT": str(ws_port)})
    api, hub = f"https://127.0.0.1:{api_port}", f"wss://127.0.0.1:{ws_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            stack.check_alive()
            try:
                if httpx.get(f"{api}/readyz", verify=str(cert), timeout=2).status_code == 200 and httpx.get(
                        f"https://127.0.0.1:{ws_port}/healthz", verify=str(cert), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the TLS API and hub did not answer within 60 s"
            time.sleep(0.5)
        with pytest.raises(httpx.HTTPError):  # plain HTTP to a TLS port gets nowhere
            httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=5)
        env = {**os.environ, "EXCHANGE_API": api, "EXCHANGE_WS": hub, "SSL_CERT_FILE": str(cert),
               "REQUESTS_CA_BUNDLE": str(cert)}
        feed = subprocess.Popen([sys.executable, str(Path(__file__).parent / "cryptofeed_trades.py"),
                                 f"{market['base']}-{market['quote']}"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(8)  # it loads the markets and connects
            assert feed.poll() is None, feed.stderr.read() if feed.stderr else ""
            with httpx.Client(base_url=api, timeout=30, verify=str(cert)) as http:
                fund(http, maker["auth"], market["base"], "10")
                place(http, maker, market, "SELL", "40", "1")
                place(http, taker, market, "BUY", "40", "1")
            out, err = feed.communicate(timeout=60)
        finally:
            feed.kill()
        assert out, err[-3000:]
        trade = orjson.loads(out.splitlines()[0])
        assert trade["symbol"] == f"{market['base']}-{market['quote']}"
        assert (Decimal(trade["price"]), Decimal(trade["amount"])) == (40, 1)
    finally:
        stack.stop("api-tls")
        stack.stop("ws-tls")


def _two_traders_on_a_fresh_market(stack, infra, users) -> tuple[dict, dict]:
    """A market of the test's own; its symbol and the two users' keys as the client scripts read them."""
    maker, taker = users
    market = binance_market(infra)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        fund(http, maker["auth"], market["base"], "10")
    env = {**os.environ, "EXCHANGE_API": stack.base_url, "EXCHANGE_WS": hub_root(stack), "SYMBOL": market["binance"],
           "MAKER_KEY": maker["key"], "MAKER_SECRET": maker["secret"], "TAKER_KEY": taker["key"],
           "TAKER_SECRET": taker["secret"]}
    return market, env


def _run_client(script: str, env: dict) -> dict:
    run = subprocess.run([sys.executable, str(Path(__file__).parent / script)], env=env, capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return orjson.loads(run.stdout.strip().splitlines()[-1])


def test_binance_connector_trades_and_streams_with_only_its_urls_changed(stack, infra, users):
    """Binance's own Python connector: REST, diff_book_depth and partial_book_depth (at its default
    1000 ms names) and user_data, which subscribes a listen key on a stream connection."""
    market, env = _two_traders_on_a_fresh_market(stack, infra, users)
    connector = Path(__file__).resolve().parents[2] / ".venv" / "binance-connector"
    seen = _run_client("connector_client.py", {**env, "PYTHONPATH": str(connector)})
    assert (seen["report"]["x"], seen["report"]["X"], seen["report"]["L"]) == ("TRADE", "FILLED", eight("25"))
    assert seen["report"]["t"] > 0 and seen["diff"]["s"] == market["binance"]
    assert seen["partial"]["asks"][0] == [eight("25"), eight("1")]
    assert (seen["got"]["status"], seen["cancelled"]["status"]) == ("NEW", "CANCELED")
    assert seen["got"]["orderId"] == seen["cancelled"]["orderId"] <= 2**53 - 1


def test_binance_official_sdk_with_its_default_settings(stack, infra, users):
    """binance-sdk-spot: REST, the WebSocket API (ping, time and user data by signature: it fails
    without `rateLimits` in the replies) and the streams."""
    market, env = _two_traders_on_a_fresh_market(stack, infra, users)
    seen = _run_client("sdk_client.py", env)
    assert seen["pong"] and seen["time"]["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
    assert seen["bought"]["status"] == "FILLED" and seen["bought"]["fills"][0]["price"] == eight("35")
    assert [t["p"] for t in seen["trades"]] == [eight("35")] and seen["depth"]
    [fill] = [r for r in seen["reports"] if r["x"] == "TRADE"]
    assert (fill["X"], fill["i"], fill["t"]) == ("FILLED", seen["bought"]["orderId"],
                                                 seen["bought"]["fills"][0]["tradeId"])
    assert (seen["got"]["status"], seen["cancelled"]["status"]) == ("NEW", "CANCELED")
