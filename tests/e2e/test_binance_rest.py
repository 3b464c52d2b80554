"""The Binance-compatible REST API, used through ccxt and python-binance as bots use them, and
signed by hand for the edge cases the libraries never send."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import subprocess
import time
from decimal import Decimal
from urllib.parse import urlencode

import ccxt
import ccxt.async_support as ccxt_async
import httpx
import pytest
from binance.exceptions import BinanceAPIException

from tests.integration.flow import REPO

from .binance_clients import ccxt_defaults, ccxt_exchange, python_binance_client, trader
from .markets import fresh_market
from .test_api import eventually, fund

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def market(stack, infra):
    """A market of the module's own (no resting order from elsewhere), as ccxt names it."""
    created = asyncio.run(fresh_market(infra, maker_fee="0.001", taker_fee="0.002"))
    return {**created, "ccxt": f"{created['base']}/{created['quote']}", "binance": created["base"] + created["quote"]}


@pytest.fixture(scope="module")
def alice(stack, market):
    return funded(stack, "alice", market)


@pytest.fixture(scope="module")
def bob(stack, market):
    return funded(stack, "bob", market)


def funded(stack, name: str, market: dict) -> dict:
    user = trader(stack.base_url, name)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        fund(http, user["auth"], market["base"], "1000")
        fund(http, user["auth"], "USDC", "100000")
    return user


def signed_request(http: httpx.Client, method: str, path: str, user: dict, params: dict, *, in_body: bool = False,
                   timestamp: int | None = None, key: str | None = None):
    query = urlencode({**params, "timestamp": timestamp if timestamp is not None else int(time.time() * 1000)})
    signature = hmac.new(user["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
    signed = f"{query}&signature={signature}"
    headers = {"X-MBX-APIKEY": key or user["key"]}
    if in_body:
        return http.request(method, path, content=signed, headers={**headers,
                            "Content-Type": "application/x-www-form-urlencoded"})
    return http.request(method, f"{path}?{signed}", headers=headers)


def test_ccxt_loads_markets_and_reads_market_data(stack, market, alice, bob):
    exchange = ccxt_exchange(ccxt, stack.base_url, alice["key"], alice["secret"])
    markets = exchange.load_markets()
    traded = markets[market["ccxt"]]
    assert traded["id"] == market["binance"] and traded["active"] and traded["spot"]
    assert traded["precision"]["price"] == 0.01 and traded["precision"]["amount"] == 0.01
    seller = ccxt_exchange(ccxt, stack.base_url, bob["key"], bob["secret"])
    seller.load_markets()
    seller.create_order(market["ccxt"], "limit", "sell", 2, 101)
    exchange.create_order(market["ccxt"], "limit", "buy", 1, 101)
    book = eventually(lambda: (b := exchange.fetch_order_book(market["ccxt"]))["asks"] and b)
    assert book["asks"][0] == [101.0, 1.0] and not book["bids"]
    ticker = eventually(lambda: (t := exchange.fetch_ticker(market["ccxt"]))["last"] and t)
    assert ticker["last"] == 101.0 and ticker["baseVolume"] == 1.0
    assert market["ccxt"] in exchange.fetch_tickers([market["ccxt"]])
    trades = eventually(lambda: exchange.fetch_trades(market["ccxt"]))
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(101.0, 1.0, "buy")]
    candles = eventually(lambda: exchange.fetch_ohlcv(market["ccxt"], "1m"))
    assert candles[-1][1:] == [101.0, 101.0, 101.0, 101.0, 1.0]
    canceled = seller.cancel_all_orders(market["ccxt"])  # what is left of the sell
    assert [(o["status"], o["remaining"]) for o in canceled] == [("canceled", 1.0)]
    assert eventually(lambda: seller.fetch_open_orders(market["ccxt"]) == [])  # the read side follows


def test_two_ccxt_accounts_trade_and_their_balances_add_up_exactly(stack, market, alice, bob):
    buyer = ccxt_exchange(ccxt, stack.base_url, alice["key"], alice["secret"])
    seller = ccxt_exchange(ccxt, stack.base_url, bob["key"], bob["secret"])
    buyer.load_markets()
    seller.load_markets()
    symbol, base = market["ccxt"], market["base"]
    before = {name: ex.fetch_balance() for name, ex in (("buyer", buyer), ("seller", seller))}
    rest = seller.create_order(symbol, "limit", "sell", 3, 100, {"timeInForce": "GTC"})
    assert rest["status"] == "open" and rest["filled"] == 0.0
    maker_only = seller.create_order(symbol, "limit", "sell", 1, 120, {"postOnly": True})
    assert maker_only["status"] == "open"
    with pytest.raises(ccxt.OrderImmediatelyFillable):  # a post-only buy at the ask would take
        buyer.create_order(symbol, "limit", "buy", 1, 100, {"postOnly": True})
    taken = buyer.create_order(symbol, "limit", "buy", 2, 100)
    assert taken["status"] == "closed" and taken["filled"] == 2.0 and taken["average"] == 100.0
    assert [(f["price"], f["amount"]) for f in taken["trades"]] == [(100.0, 2.0)]
    market_buy = buyer.create_order(symbol, "market", "buy", 1)  # by quantity
    assert market_buy["status"] == "closed" and market_buy["filled"] == 1.0
    fetched = eventually(lambda: (o := seller.fetch_order(rest["id"], symbol))["status"] == "closed" and o)
    assert fetched["filled"] == 3.0
    assert eventually(lambda: [o["id"] for o in seller.fetch_open_orders(symbol)] == [maker_only["id"]])
    canceled = seller.cancel_order(maker_only["id"], symbol)
    assert canceled["status"] == "canceled"
    assert eventually(lambda: seller.fetch_open_orders(symbol) == [])
    everything = {o["id"]: o["status"] for o in seller.fetch_orders(symbol)}  # GET /api/v3/allOrders
    assert (everything[rest["id"]], everything[maker_only["id"]]) == ("closed", "canceled")
    with pytest.raises(ccxt.OrderNotFound):
        seller.fetch_order("999999999999", symbol)
    with pytest.raises(ccxt.InsufficientFunds):
        buyer.create_order(symbol, "limit", "buy", 1000, 1000)
    ours = {taken["id"], market_buy["id"]}
    mine = eventually(lambda: [t for t in buyer.fetch_my_trades(symbol) if t["order"] in ours])
    assert sum(t["amount"] for t in mine) == 3.0 and {t["takerOrMaker"] for t in mine} == {"taker"}
    after = {name: eventually(lambda e=ex, n=name: (b := e.fetch_balance())[base]["total"] != before[n].get(base, {})
                              .get("total") and b) for name, ex in (("buyer", buyer), ("seller", seller))}
    # 3 base at 100 quote; fees: maker 0.1% (seller), taker 0.2% (buyer).
    assert Decimal(str(after["buyer"][base]["total"])) - Decimal(str(before["buyer"][base]["total"])) == 3
    assert Decimal(str(after["seller"][base]["total"])) - Decimal(str(before["seller"][base]["total"])) == -3
    assert Decimal(str(before["buyer"]["USDC"]["total"])) - Decimal(str(after["buyer"]["USDC"]["total"])) == \
        Decimal("300") + Decimal("0.6")
    assert Decimal(str(after["seller"]["USDC"]["total"])) - Decimal(str(before["seller"]["USDC"]["total"])) == \
        Decimal("300") - Decimal("0.3")
    assert after["seller"][base]["used"] == 0.0


def test_async_ccxt_places_fetches_and_cancels(stack, market, alice):
    async def run() -> None:
        exchange = ccxt_exchange(ccxt_async, stack.base_url, alice["key"], alice["secret"])
        try:
            await exchange.load_markets()
            symbol = market["ccxt"]
            order = await exchange.create_order(symbol, "limit", "buy", 1, 50)
            assert order["status"] == "open"
            assert (await exchange.fetch_order(order["id"], symbol))["price"] == 50.0
            for _ in range(120):
                if [o["id"] for o in await exchange.fetch_open_orders(symbol)] == [order["id"]]:
                    break
                await asyncio.sleep(0.25)
            assert [o["id"] for o in await exchange.fetch_open_orders(symbol)] == [order["id"]]
            book = await exchange.fetch_order_book(symbol)
            assert [50.0, 1.0] in book["bids"]
            assert (await exchange.fetch_ticker(symbol))["symbol"] == symbol
            assert (await exchange.fetch_trades(symbol))[-1]["price"] in (100.0, 101.0)  # the earlier tests'
            assert (await exchange.fetch_ohlcv(symbol, "1m"))[-1][0] > 0
            assert all(t["symbol"] == symbol for t in await exchange.fetch_my_trades(symbol))
            assert (await exchange.cancel_order(order["id"], symbol))["status"] == "canceled"
            for _ in range(120):  # the released hold reaches the read side within moments
                if (await exchange.fetch_balance())["USDC"]["used"] == 0.0:
                    break
                await asyncio.sleep(0.25)
            assert (await exchange.fetch_balance())["USDC"]["used"] == 0.0
        finally:
            await exchange.close()

    asyncio.run(run())


def test_python_binance_client_trades_with_parameters_in_the_body(stack, market, alice, bob):
    buyer = python_binance_client(stack.base_url, alice["key"], alice["secret"])
    seller = python_binance_client(stack.base_url, bob["key"], bob["secret"])
    symbol = market["binance"]
    assert buyer.ping() == {}
    assert buyer.get_symbol_info(symbol)["status"] == "TRADING"
    resting = seller.order_limit_sell(symbol=symbol, quantity="1", price="99", newClientOrderId="pb-sell-1")
    assert resting["status"] == "NEW" and resting["clientOrderId"] == "pb-sell-1"
    assert seller.get_order(symbol=symbol, origClientOrderId="pb-sell-1")["orderId"] == resting["orderId"]
    filled = buyer.order_market_buy(symbol=symbol, quoteOrderQty="99.198")
    assert filled["status"] in ("FILLED", "EXPIRED") and Decimal(filled["executedQty"]) == 1
    assert [f["price"] for f in filled["fills"]] == ["99.00000000"]
    other = seller.order_limit_sell(symbol=symbol, quantity="1", price="130")
    # python-binance sends DELETE's parameters in the body.
    assert seller.cancel_order(symbol=symbol, orderId=other["orderId"])["status"] == "CANCELED"
    with pytest.raises(BinanceAPIException) as unknown:
        seller.cancel_order(symbol=symbol, orderId=other["orderId"])
    assert unknown.value.code == -2011
    account = seller.get_account()
    assert {b["asset"] for b in account["balances"]} >= {market["base"], "USDC"}
    assert eventually(lambda: seller.get_my_trades(symbol=symbol))


def test_signatures_timestamps_and_keys_get_binance_codes(stack, market, alice):
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        ok = signed_request(http, "GET", "/api/v3/openOrders", alice, {"symbol": market["binance"]})
        assert ok.status_code == 200 and ok.headers["X-MBX-USED-WEIGHT-1M"]
        in_body = signed_request(http, "DELETE", "/api/v3/order", alice, {"symbol": market["binance"],
                                                                           "orderId": 1}, in_body=True)
        assert in_body.json()["code"] == -2011  # signed right: the order is simply unknown
        # Parameters in any order: the signature is over the string as sent.
        reordered = signed_request(http, "GET", "/api/v3/account", alice, {"recvWindow": 10000, "omitZeroBalances":
                                                                           "true"})
        assert reordered.status_code == 200
        # Part in the query, part in the body: the signature covers query then body.
        query = f"symbol={market['binance']}&timestamp={int(time.time() * 1000)}"
        body = "orderId=1"
        signature = hmac.new(alice["secret"].encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        form = {"X-MBX-APIKEY": alice["key"], "Content-Type": "application/x-www-form-urlencoded"}
        split = http.request("DELETE", f"/api/v3/order?{query}", content=f"{body}&signature={signature}", headers=form)
        assert split.json()["code"] == -2011
        stale = signed_request(http, "GET", "/api/v3/account", alice, {}, timestamp=int(time.time() * 1000) - 6000)
        assert (stale.status_code, stale.json()["code"]) == (400, -1021)
        ahead = signed_request(http, "GET", "/api/v3/account", alice, {}, timestamp=int(time.time() * 1000) + 5000)
        assert ahead.json()["code"] == -1021
        wrong_key = signed_request(http, "GET", "/api/v3/account", alice, {}, key="k" + "0" * 24)
        assert (wrong_key.status_code, wrong_key.json()["code"]) == (401, -2015)
        bad_format = signed_request(http, "GET", "/api/v3/account", alice, {}, key="nope")
        assert bad_format.json()["code"] == -2014
        tampered = signed_request(http, "GET", "/api/v3/account", {**alice, "secret": "x" * 64}, {})
        assert (tampered.status_code, tampered.json()["code"]) == (400, -1022)
        window = signed_request(http, "GET", "/api/v3/account", alice, {"recvWindow": 70000})
        assert window.json()["code"] == -1131
        twice = http.get(f"/api/v3/depth?symbol={market['binance']}&symbol={market['binance']}")
        assert twice.json()["code"] == -1101
        assert http.get("/api/v3/depth?symbol=NOPENOPE").json() == {"code": -1121, "msg": "Invalid symbol."}
        assert http.get(f"/api/v3/depth?symbol={market['binance']}&colour=red").json()["code"] == -1104
        for path in ("/sapi/v1/margin/account", "/fapi/v1/order", "/api/v3/orderList/oco", "/dapi/v1/ping"):
            unsupported = http.post(path)
            assert unsupported.status_code == 404 and unsupported.json()["code"] == -1000, path


def test_past_the_request_and_order_limits_answers_429_with_retry_after(stack, market, alice):
    url = stack.start_api("api-limited", env={"BINANCE_WEIGHT_PER_MINUTE": "30", "BINANCE_ORDERS_PER_10S": "2"})
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            orders = [signed_request(http, "POST", "/api/v3/order/test", alice, {
                "symbol": market["binance"], "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
                "price": "1"}) for _ in range(2)]
            assert [o.status_code for o in orders] == [200, 200]
            placed = [signed_request(http, "POST", "/api/v3/order", alice, {
                "symbol": market["binance"], "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
                "price": "1"}) for _ in range(3)]
            assert [p.status_code for p in placed] == [200, 200, 429]
            assert [p.headers.get("X-MBX-ORDER-COUNT-10S") for p in placed[:2]] == ["1", "2"]
            assert placed[2].json()["code"] == -1015 and int(placed[2].headers["Retry-After"]) > 0
            for order in placed[:2]:
                signed_request(http, "DELETE", "/api/v3/order", alice, {"symbol": market["binance"],
                                                                        "orderId": order.json()["orderId"]})
            answers = [http.get("/api/v3/exchangeInfo") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 429, 429]  # 7 spent above, 20 each, 30 a minute
        assert answers[1].json()["code"] == -1003 and int(answers[1].headers["Retry-After"]) > 0
        with pytest.raises(ccxt.DDoSProtection):
            exchange = ccxt.binance({"options": {"fetchMarkets": {"types": ["spot"]}}})
            exchange.urls["api"] = {name: f"{url}/api/v3" for name in exchange.urls["api"]}
            exchange.load_markets()  # exchangeInfo: 20 more than the 20 spent
    finally:
        stack.stop("api-limited")


def test_javascript_clients_get_and_cancel_orders_by_their_exact_ids(stack, market, alice):
    """ccxt and the npm `binance` SDK under Node's test runner (tests/e2e/js/clients.test.mjs)."""
    js = REPO / "tests" / "e2e" / "js"
    env = {**os.environ, "EXCHANGE_API": stack.base_url, "EXCHANGE_WS": stack.ws_url.removesuffix("/ws"),
           "API_KEY": alice["key"], "API_SECRET": alice["secret"], "PAIR": market["ccxt"],
           "SYMBOL": market["binance"]}
    run = subprocess.run(["node", "--test", "clients.test.mjs"], cwd=js, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# pass 2" in run.stdout


def test_ccxt_reads_its_own_writes_at_once(stack, infra):
    """ccxt with its default options, no polling: an order placed is in fetch_open_orders and
    fetch_order at once, a cancel is out of the list at once, a fill is in fetch_balance and
    fetch_my_trades at once, for both sides. Bots reconcile this way: a miss makes them think
    the order filled, or place it again."""
    created = asyncio.run(fresh_market(infra))
    symbol = f"{created['base']}/{created['quote']}"
    buyer, seller = (funded(stack, name, created) for name in ("buyer", "seller"))
    buying, selling = (ccxt_defaults(ccxt, stack.base_url, "ws://unused", user["key"], user["secret"])
                       for user in (buyer, seller))
    buying.load_markets()
    selling.load_markets()
    for n in range(1, 101):
        bid = buying.create_order(symbol, "limit", "buy", 1, 9)
        assert [o["id"] for o in buying.fetch_open_orders(symbol)] == [bid["id"]], f"round {n}: not listed"
        assert buying.fetch_order(bid["id"], symbol)["status"] == "open"
        buying.cancel_order(bid["id"], symbol)
        assert buying.fetch_open_orders(symbol) == [], f"round {n}: canceled and still listed"

        selling.create_order(symbol, "limit", "sell", 1, 10)
        assert buying.create_order(symbol, "limit", "buy", 1, 10)["status"] == "closed"
        assert buying.fetch_balance()[created["base"]]["free"] == 1000 + n, f"round {n}: the fill is not in the balance"
        assert selling.fetch_balance()[created["base"]]["free"] == 1000 - n, f"round {n}: nor in the seller's"
        assert len(buying.fetch_my_trades(symbol, limit=1000)) == n, f"round {n}: the fill is not in my trades"
