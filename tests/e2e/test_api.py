"""The REST API as a client uses it: a real uvicorn process, with a worker and a recorder behind
it on real Kafka and Cassandra."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import jwt
import pytest

from api import web
from api.app import ROUTES
from api.binance.errors import is_binance_path
from api.orders import STALE_CLAIM_MS
from api.security import DEV_SECRET
from bench.api_stack import counter
from exchange.db import cluster

from .markets import fresh_market

pytestmark = pytest.mark.timeout(600)


def new_user(stack, name: str) -> tuple[str, dict]:
    """Sign up and log in; the account id and the auth header."""
    email = f"{name}-{secrets.token_hex(4)}@example.com"
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        signup = http.post("/api/v1/auth/signup", json={"username": name, "email": email, "password": "s3cret-pass"})
        assert signup.status_code == 201, signup.text
        login = http.post("/api/v1/auth/login", json={"email": email, "password": "s3cret-pass"})
        assert login.status_code == 200, login.text
    return signup.json()["account_id"], {"Authorization": f"Bearer {login.json()['token']}"}


def eventually(check, timeout: float = 30.0):
    """The read side follows the events within moments: poll until `check` returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


@pytest.fixture
def http(stack):
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield client


def balances(http, auth) -> dict:
    return {b["asset"]: (b["available"], b["held"]) for b in http.get("/api/v1/balances", headers=auth).json()["items"]}


def test_the_seed_flow_works_as_written(stack, http):
    email = f"seed-{secrets.token_hex(4)}@example.com"
    assert http.post("/api/v1/auth/signup",
                     json={"username": "seed", "email": email, "password": "password123"}).status_code == 201
    token = http.post("/api/v1/auth/login", json={"email": email, "password": "password123"}).json()["token"]
    placed = http.post("/api/v1/orders", json={"market": "SOL_USDC", "price": "150", "quantity": "10", "side": "buy"},
                       headers={"Authorization": f"Bearer {token}"})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["market"], order["side"], order["price"], order["quantity"]) == ("SOL_USDC", "buy", "150", "10")
    assert order["status"] in ("NEW", "PARTIALLY_FILLED", "FILLED")  # accepted; what rests at 150 decides


def fund(http, auth, asset: str, amount: str) -> None:
    """The development faucet; retried until every process knows a just-created asset."""
    for _ in range(60):
        funded = http.post("/api/v1/wallet/deposits", headers=auth, json={"asset": asset, "amount": amount})
        if funded.status_code != 422:
            break
        time.sleep(0.5)
    assert funded.status_code == 201, funded.text


def test_two_users_trade_and_each_sees_only_their_own(stack, http, infra):
    market = asyncio.run(fresh_market(infra, maker_fee="0.001", taker_fee="0.002"))
    symbol, base = market["symbol"], market["base"]
    alice, alice_auth = new_user(stack, "alice")
    bob, bob_auth = new_user(stack, "bob")
    fund(http, alice_auth, base, "10")
    ask = http.post("/api/v1/orders", json={"market": symbol, "price": "12.34", "quantity": "2", "side": "sell"},
                    headers=alice_auth)
    assert ask.status_code == 201 and ask.json()["status"] == "NEW", ask.text
    bid = http.post("/api/v1/orders", json={"market": symbol, "price": "12.34", "quantity": "2", "side": "buy"},
                    headers=bob_auth)
    assert bid.status_code == 201, bid.text
    assert (bid.json()["status"], bid.json()["filled_quantity"], bid.json()["filled_quote"]) == ("FILLED", "2", "24.68")

    # 2 at 12.34 = 24.68 USDC; maker fee 0.1% = 0.02468, taker fee 0.2% = 0.04936, by hand.
    expected_alice = {base: ("8", "0"), "USDC": ("100024.65532", "0")}
    expected_bob = {base: ("2", "0"), "USDC": ("99975.27064", "0")}
    assert eventually(lambda: {k: balances(http, alice_auth).get(k) for k in (base, "USDC")} == expected_alice), \
        balances(http, alice_auth)
    assert eventually(lambda: {k: balances(http, bob_auth).get(k) for k in (base, "USDC")} == expected_bob), \
        balances(http, bob_auth)

    ask_id, bid_id = ask.json()["order_id"], bid.json()["order_id"]
    assert eventually(lambda: http.get(f"/api/v1/orders/{ask_id}", headers=alice_auth).json().get("status") == "FILLED")
    assert http.get(f"/api/v1/orders/{ask_id}", headers=bob_auth).status_code == 404  # not bob's
    assert http.get(f"/api/v1/orders/{bid_id}", headers=alice_auth).status_code == 404
    assert http.delete(f"/api/v1/orders/{ask_id}", headers=bob_auth).status_code == 404
    alice_history = {o["order_id"] for o in http.get("/api/v1/orders/history", headers=alice_auth).json()["items"]}
    bob_history = {o["order_id"] for o in http.get("/api/v1/orders/history", headers=bob_auth).json()["items"]}
    assert ask_id in alice_history and bid_id not in alice_history
    assert bid_id in bob_history and ask_id not in bob_history
    fills = eventually(lambda: http.get("/api/v1/my/trades", headers=alice_auth).json()["items"])
    assert [(f["role"], f["side"], f["quantity"]) for f in fills] == [("maker", "sell", "2")]
    fills = eventually(lambda: http.get("/api/v1/my/trades", headers=bob_auth).json()["items"])
    assert [(f["role"], f["side"], f["quantity"]) for f in fills] == [("taker", "buy", "2")]
    ledger = http.get("/api/v1/wallet/ledger", headers=bob_auth).json()["items"]
    assert {e["kind"] for e in ledger} >= {"deposit", "fill", "fee"}
    # The trade's three legs share one millisecond: pages of one still give every entry once.
    paged, cursor = [], None
    while True:
        page = http.get("/api/v1/wallet/ledger", params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                        headers=bob_auth).json()
        paged += page["items"]
        if (cursor := page["next"]) is None:
            break
    assert [e["id"] for e in paged] == [e["id"] for e in ledger]
    trades = eventually(lambda: http.get("/api/v1/trades", params={"market": symbol}).json()["items"])
    assert [(t["price"], t["quantity"], t["quote_quantity"], t["taker_side"]) for t in trades] == \
        [("12.34", "2", "24.68", "buy")]


def test_retry_cancel_and_cancel_all(stack, http):
    _, auth = new_user(stack, "carol")
    eventually(lambda: balances(http, auth).get("USDC"))
    order = {"market": "SOL_USDC", "price": "1.23", "quantity": "1", "side": "buy", "client_order_id": "retry-1"}
    first = http.post("/api/v1/orders", json=order, headers=auth)
    assert first.status_code == 201, first.text
    again = eventually(lambda: (lambda r: r if r.status_code == 200 else None)(
        http.post("/api/v1/orders", json=order, headers=auth)))
    assert again and again.json()["order_id"] == first.json()["order_id"]  # the same order, not a second one
    opened = http.get("/api/v1/orders", headers=auth).json()["items"]
    assert [o["order_id"] for o in opened] == [first.json()["order_id"]]

    canceled = http.delete(f"/api/v1/orders/{first.json()['order_id']}", headers=auth)
    assert canceled.status_code == 200 and canceled.json()["status"] == "CANCELED", canceled.text

    for price in ("1.11", "1.12"):
        assert http.post("/api/v1/orders", json={"market": "SOL_USDC", "price": price, "quantity": "1",
                                                 "side": "buy"}, headers=auth).status_code == 201
    assert eventually(lambda: len(http.get("/api/v1/orders", headers=auth).json()["items"]) == 2)
    assert http.delete("/api/v1/orders", params={"market": "SOL_USDC"}, headers=auth).status_code == 202
    assert eventually(lambda: http.get("/api/v1/orders", headers=auth).json()["items"] == [])
    assert eventually(lambda: balances(http, auth).get("USDC") == ("100000", "0"))


def test_a_retry_places_the_order_itself_when_the_first_request_died_between_its_claim_and_kafka(stack, http, infra):
    """A process killed after claiming a client order id and before Kafka had the order leaves a
    claim that is never marked sent. A retry while it may still be sending is told to send again
    (503, nothing placed); once the claim is long past any send, the retry takes it over and places
    the order, which then exists (before, it answered 202 with an order that never would)."""
    account, auth = new_user(stack, "claimed")
    eventually(lambda: balances(http, auth).get("USDC"))
    now = int(time.time() * 1000)
    connection = cluster(infra)
    try:
        session = connection.connect(infra.cassandra_keyspace)
        for client_id, claimed in (("died-long-ago", now - STALE_CLAIM_MS - 1000), ("still-sending", now)):
            session.execute("INSERT INTO client_order_claims (account, client_order_id, order_id, market, claimed_ts) "
                            "VALUES (%s, %s, %s, %s, %s)", (account, client_id, 777, "SOL_USDC", claimed))
    finally:
        connection.shutdown()
    order = {"market": "SOL_USDC", "price": "1.01", "quantity": "1", "side": "buy"}
    in_flight = http.post("/api/v1/orders", json={**order, "client_order_id": "still-sending"}, headers=auth)
    assert (in_flight.status_code, in_flight.json()["error"]["code"]) == (503, "order_in_flight"), in_flight.text
    assert in_flight.headers["retry-after"] == "1"
    placed = http.post("/api/v1/orders", json={**order, "client_order_id": "died-long-ago"}, headers=auth)
    assert placed.status_code == 201 and placed.json()["status"] == "NEW", placed.text
    assert placed.json()["order_id"] != "777"
    again = http.post("/api/v1/orders", json={**order, "client_order_id": "died-long-ago"}, headers=auth)
    assert again.status_code == 200 and again.json()["order_id"] == placed.json()["order_id"]  # one order

    # Killed after Kafka had the order, before the claim said so: the order stands, no second one.
    sent = http.post("/api/v1/orders", json={**order, "client_order_id": "sent-unmarked"}, headers=auth)
    assert sent.status_code == 201, sent.text
    connection = cluster(infra)
    try:
        connection.connect(infra.cassandra_keyspace).execute(
            "UPDATE client_order_claims SET sent = null, claimed_ts = %s WHERE account = %s AND client_order_id = %s",
            (now - STALE_CLAIM_MS - 1000, account, "sent-unmarked"))
    finally:
        connection.shutdown()
    retried = http.post("/api/v1/orders", json={**order, "client_order_id": "sent-unmarked"}, headers=auth)
    assert retried.status_code == 200 and retried.json()["order_id"] == sent.json()["order_id"], retried.text
    opened = eventually(lambda: http.get("/api/v1/orders", headers=auth).json()["items"])
    assert sorted(o["order_id"] for o in opened) == sorted([placed.json()["order_id"], sent.json()["order_id"]])


def test_a_retry_gets_the_first_orders_id_from_any_api_process_while_the_worker_is_down(stack, http):
    """The first request answers 202 (no worker to decide); its retry, to another API process,
    names the same order, before and after the worker comes back; only one order exists."""
    _, auth = new_user(stack, "kim")
    eventually(lambda: balances(http, auth).get("USDC"))
    other_url = stack.start_api("api-2")
    try:
        with httpx.Client(base_url=other_url, timeout=30) as other:
            order = {"market": "SOL_USDC", "price": "1.25", "quantity": "1", "side": "buy",
                     "client_order_id": f"kim-{secrets.token_hex(4)}"}
            stack.stop("worker")
            try:
                first = http.post("/api/v1/orders", json=order, headers=auth)
                assert first.status_code == 202, first.text
                order_id = first.json()["order_id"]
                retried = other.post("/api/v1/orders", json=order, headers=auth)
                assert (retried.status_code, retried.json()["order_id"]) == (202, order_id), retried.text
            finally:
                stack.start("worker")
            later = eventually(lambda: (lambda r: r if r.status_code == 200 else None)(
                other.post("/api/v1/orders", json=order, headers=auth)), timeout=120)
            assert later and later.json()["order_id"] == order_id and later.json()["status"] == "NEW", later
            assert [o["order_id"] for o in http.get("/api/v1/orders", headers=auth).json()["items"]] == [order_id]
    finally:
        stack.stop("api-2")
    assert http.delete(f"/api/v1/orders/{order_id}", headers=auth).status_code == 200


def _metric(client: httpx.Client, name: str) -> int:
    value = counter(client.get("/metrics").text, name)
    assert value is not None, f"no {name} on {client.base_url}/metrics"
    return int(value)


def test_each_api_process_reads_the_outcomes_of_its_own_orders_only(stack, http):
    """Two API processes share the reply partitions; each answers its own orders with their
    outcome (201), and reads only the replies to what it sent, not the other's."""
    _, auth = new_user(stack, "lea")
    eventually(lambda: balances(http, auth).get("USDC"))
    other_url = stack.start_api("api-3")
    try:
        # Clients of their own: a connection kept from before the other process started may have
        # been closed by the server meanwhile.
        with httpx.Client(base_url=stack.base_url, timeout=30) as first, \
                httpx.Client(base_url=other_url, timeout=30) as other:
            def owned() -> tuple[int, int] | None:
                counts = (_metric(first, "exchange_api_reply_partitions"),
                          _metric(other, "exchange_api_reply_partitions"))
                return counts if sum(counts) == 32 and all(counts) else None

            assert eventually(owned), "the two processes never shared the reply partitions out"

            def settled() -> tuple[int, int] | None:
                """The counts once no reply has come for 3 s: a worker restarted by an earlier test
                sends its last outcomes again, to whichever process owns their partitions now."""
                before = _metric(first, "exchange_api_replies_total"), _metric(other, "exchange_api_replies_total")
                time.sleep(3)
                after = _metric(first, "exchange_api_replies_total"), _metric(other, "exchange_api_replies_total")
                return after if after == before else None

            read_before = eventually(settled, timeout=60)
            assert read_before is not None
            order = {"market": "SOL_USDC", "price": "1.25", "quantity": "1", "side": "buy"}
            placed = [client.post("/api/v1/orders", json=order, headers=auth)
                      for client in (first, other, other, other)]
            # 201 with the outcome, or 202 on a machine so busy the outcome came after the wait: either
            # way the reply goes to the process that sent the order, and only there.
            assert all(p.status_code in (201, 202) for p in placed), [p.text for p in placed]
            assert all(p.json()["status"] == "NEW" for p in placed if p.status_code == 201)

            def read() -> tuple[int, int] | None:
                counts = (_metric(first, "exchange_api_replies_total") - read_before[0],
                          _metric(other, "exchange_api_replies_total") - read_before[1])
                return counts if sum(counts) >= 4 else None

            assert eventually(read) == (1, 3)
    finally:
        stack.stop("api-3")
    assert http.delete("/api/v1/orders", params={"market": "SOL_USDC"}, headers=auth).status_code == 202


@pytest.mark.parametrize("body, status, code", [
    (b"{not json", 400, "invalid_request"),
    ({"market": "SOL_USDC", "price": 150, "quantity": "1", "side": "buy"}, 400, "invalid_request"),
    ({"market": "SOL_USDC", "price": "150.001", "quantity": "1", "side": "buy"}, 400, "invalid_number"),
    ({"market": "SOL_USDC", "price": "150", "quantity": "1", "side": "up"}, 400, "invalid_request"),
    ({"market": "SOL_USDC", "price": "-1", "quantity": "1", "side": "buy"}, 400, "invalid_number"),
    ({"market": "SOL_USDC", "price": "150", "side": "buy"}, 400, "missing_field"),
    ({"market": "SOL_USDC", "price": "", "quantity": "1", "side": "buy"}, 400, "invalid_request"),
    ({"market": "SOL_USDC", "price": "150", "quantity": "", "side": "buy"}, 400, "invalid_request"),
    (b'{"market":"SOL_USDC","side":"sell","price":"100000","quantity":"1","side":"buy","price":"2"}', 400,
     "invalid_request"),
    ({"market": "NOPE_USDC", "price": "150", "quantity": "1", "side": "buy"}, 404, "unknown_market"),
    ({"market": "SOL_USDC", "price": "0.01", "quantity": "0.001", "side": "buy"}, 422, "below_min_notional"),
    ({"market": "SOL_USDC", "type": "market", "quantity": "1", "side": "buy"}, 400, "missing_field"),
    ({"market": "SOL_USDC", "price": "150", "quantity": "1", "side": "buy", "extra": 1}, 400, "invalid_request"),
])
def test_bad_orders_get_a_clear_error(stack, http, body, status, code):
    _, auth = new_user(stack, "dave")
    response = (http.post("/api/v1/orders", content=body, headers=auth) if isinstance(body, bytes)
                else http.post("/api/v1/orders", json=body, headers=auth))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("body, field", [
    ({"market": "SOL_USDC", "price": "", "quantity": "1", "side": "buy"}, "price"),
    ({"market": "SOL_USDC", "price": "150.001", "quantity": "1", "side": "buy"}, "price"),
    ({"market": "SOL_USDC", "price": "150", "quantity": "1.0001", "side": "buy"}, "quantity"),
    (b'{"market":"SOL_USDC","side":"sell","price":"100000","quantity":"1","side":"buy"}', "side"),
])
def test_a_refused_order_names_the_field_and_no_order_exists(stack, http, body, field):
    _, auth = new_user(stack, "dora")
    response = (http.post("/api/v1/orders", content=body, headers=auth) if isinstance(body, bytes)
                else http.post("/api/v1/orders", json=body, headers=auth))
    assert response.status_code == 400 and response.json()["error"]["field"] == field, response.text
    assert http.get("/api/v1/orders/history", headers=auth).json()["items"] == []


def test_tokens_that_are_missing_forged_or_expired_are_refused(stack, http):
    account, auth = new_user(stack, "erin")
    assert http.get("/api/v1/balances").status_code == 401
    good = auth["Authorization"].split()[1]
    now = int(time.time())
    forged = {
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "expired": jwt.encode({"sub": account, "iat": now - 7200, "exp": now - 3600}, DEV_SECRET, algorithm="HS256"),
        "none algorithm": jwt.encode({"sub": account, "iat": now, "exp": now + 600}, None, algorithm="none"),
        "other algorithm": jwt.encode({"sub": account, "iat": now, "exp": now + 600}, DEV_SECRET, algorithm="HS512"),
        "other secret": jwt.encode({"sub": account, "iat": now, "exp": now + 600}, "x" * 40, algorithm="HS256"),
    }
    for name, token in forged.items():
        response = http.get("/api/v1/balances", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "unauthorized"
    assert http.get("/api/v1/auth/me", headers=auth).json()["account_id"] == account


def test_signup_and_login_refusals(stack, http):
    email = f"frank-{secrets.token_hex(4)}@example.com"
    body = {"username": "frank", "email": email, "password": "long-enough"}
    assert http.post("/api/v1/auth/signup", json=body).status_code == 201
    assert http.post("/api/v1/auth/signup", json=body).json()["error"]["code"] == "email_taken"
    assert http.post("/api/v1/auth/signup", json={**body, "email": "x" + email, "password": "short"}).status_code == 400
    for _ in range(5):
        assert http.post("/api/v1/auth/login", json={"email": email, "password": "wrong-one"}).status_code == 401
    limited = http.post("/api/v1/auth/login", json={"email": email, "password": "long-enough"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_a_repeated_key_in_signup_is_refused(stack, http):
    raw = (f'{{"username":"hal","email":"hal-{secrets.token_hex(4)}@example.com","password":"long-enough",'
           f'"email":"other-{secrets.token_hex(4)}@example.com"}}').encode()
    response = http.post("/api/v1/auth/signup", content=raw)
    assert response.status_code == 400 and response.json()["error"]["field"] == "email", response.text


async def test_guesses_sent_at_once_meet_the_same_brake_as_guesses_in_a_row(stack):
    email = f"ivan-{secrets.token_hex(4)}@example.com"
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        assert (await client.post("/api/v1/auth/signup", json={"username": "ivan", "email": email,
                                                                "password": "the-right-one"})).status_code == 201
        guesses = await asyncio.gather(*(
            client.post("/api/v1/auth/login", json={"email": email, "password": f"x{n}xxxxxx"}) for n in range(30)))
        right = await client.post("/api/v1/auth/login", json={"email": email, "password": "the-right-one"})
    codes = sorted(g.status_code for g in guesses)
    assert codes == [401] * 5 + [429] * 25, codes
    assert right.status_code == 429 and "Retry-After" in right.headers


def test_a_password_change_signs_every_older_token_out_and_the_new_password_logs_in(stack, http):
    email = f"gina-{secrets.token_hex(4)}@example.com"
    assert http.post("/api/v1/auth/signup", json={"username": "gina", "email": email,
                                                  "password": "first-pass"}).status_code == 201

    def login(password: str) -> httpx.Response:
        return http.post("/api/v1/auth/login", json={"email": email, "password": password})

    first, second = ({"Authorization": f"Bearer {login('first-pass').json()['token']}"} for _ in range(2))
    wrong = http.post("/api/v1/auth/password", headers=first, json={"current_password": "not-it",
                                                                     "new_password": "second-pass"})
    assert wrong.status_code == 401 and http.get("/api/v1/auth/me", headers=first).status_code == 200
    weak = http.post("/api/v1/auth/password", headers=first, json={"current_password": "first-pass",
                                                                    "new_password": "short"})
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"

    changed = http.post("/api/v1/auth/password", headers=first, json={"current_password": "first-pass",
                                                                       "new_password": "second-pass"})
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['token']}"}
    for old in (first, second):  # the one that asked, and another session
        refused = http.get("/api/v1/balances", headers=old)
        assert refused.status_code == 401 and "signed out" in refused.json()["error"]["message"]
    assert http.get("/api/v1/balances", headers=fresh).status_code == 200
    assert login("first-pass").status_code == 401
    again = {"Authorization": f"Bearer {login('second-pass').json()['token']}"}

    renamed = http.patch("/api/v1/auth/me", headers=again, json={"username": "gina.b"})
    assert renamed.status_code == 200 and renamed.json()["username"] == "gina.b"
    assert http.get("/api/v1/auth/me", headers=again).json()["username"] == "gina.b"
    assert http.patch("/api/v1/auth/me", headers=again, json={"username": "no spaces"}).status_code == 400

    signed_out = http.post("/api/v1/auth/sign-out", headers=again)
    assert signed_out.status_code == 200 and signed_out.json()["signed_out_before"] > 0
    assert http.get("/api/v1/auth/me", headers=again).status_code == 401
    assert http.get("/api/v1/auth/me", headers=fresh).status_code == 401
    assert login("second-pass").status_code == 200


def test_the_openapi_document_lists_every_route_and_market_data_answers(stack, http):
    document = http.get("/openapi.json").json()
    # Binance's routes are Binance's (docs/binance-api.md); the trading page's are files.
    served = {(method.lower(), route.path) for route in ROUTES if route not in web.ROUTES
              for method in route.methods if method != "HEAD" and not is_binance_path(route.path)}
    listed = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert listed == served
    assert http.get("/readyz").json() == {"kafka": "up", "cassandra": "up"}
    assert {m["symbol"] for m in http.get("/api/v1/markets").json()["items"]} >= {"SOL_USDC", "BTC_USDT", "ETH_USDT"}
    depth = http.get("/api/v1/depth", params={"market": "SOL_USDC"}).json()
    assert set(depth) == {"last_update_id", "bids", "asks"}
    assert http.get("/api/v1/klines", params={"market": "SOL_USDC", "interval": "2m"}).status_code == 400
    assert "exchange_api_requests_total" in http.get("/metrics").text


def new_admin(stack, http) -> dict:
    """A user made an administrator with the operators' command; its auth header."""
    email = f"admin-{secrets.token_hex(4)}@example.com"
    assert http.post("/api/v1/auth/signup", json={"username": "admin", "email": email,
                                                  "password": "admin-pass"}).status_code == 201
    subprocess.run([sys.executable, "-m", "exchange.cli", "user", "admin", email], env=stack.env, check=True,
                   capture_output=True)
    return {"Authorization": "Bearer " + http.post("/api/v1/auth/login", json={
        "email": email, "password": "admin-pass"}).json()["token"]}


def test_only_admins_define_and_halt_markets(stack, http):
    _, user_auth = new_user(stack, "grace")
    assert http.post("/api/v1/admin/markets/SOL_USDC/halt", headers=user_auth).status_code == 403
    admin = new_admin(stack, http)
    symbol = "T" + secrets.token_hex(3).upper()
    assert http.post("/api/v1/admin/assets", json={"symbol": symbol, "decimals": 6}, headers=admin).status_code == 201
    assert http.post("/api/v1/admin/assets", json={"symbol": symbol, "decimals": 8},
                     headers=admin).status_code == 409
    market = {"symbol": f"{symbol}_USDC", "base": symbol, "quote": "USDC", "tick": "0.01", "step": "0.0001"}
    created = http.post("/api/v1/admin/markets", json=market, headers=admin)
    assert created.status_code == 201 and created.json()["status"] == "open", created.text
    assert http.post("/api/v1/admin/markets", json={**market, "tick": "0.001", "step": "0.0001"},
                     headers=admin).status_code == 409
    assert http.post(f"/api/v1/admin/markets/{symbol}_USDC/halt", headers=admin).json()["status"] == "halted"
    refused = http.post("/api/v1/orders", json={"market": f"{symbol}_USDC", "price": "1", "quantity": "1",
                                                "side": "buy"}, headers=user_auth)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "market_halted"
    assert http.post(f"/api/v1/admin/markets/{symbol}_USDC/resume", headers=admin).json()["status"] == "open"


def test_withdrawals_are_held_then_completed_or_failed_by_an_operator(stack, http):
    _, auth = new_user(stack, "ivan")
    _, other = new_user(stack, "judy")
    admin = new_admin(stack, http)
    assert eventually(lambda: balances(http, auth).get("USDC")) == ("100000", "0")

    def withdraw(amount: str, address: str = "sol:addr-1"):
        return http.post("/api/v1/wallet/withdrawals", json={"asset": "USDC", "amount": amount, "address": address},
                         headers=auth)

    first, second = withdraw("250.5"), withdraw("100", "sol:addr-2")
    assert (first.status_code, first.json()["status"], first.json()["amount"]) == (201, "processing", "250.5"), \
        first.text
    assert second.status_code == 201, second.text
    refused = withdraw("99749.6")  # 0.1 more than is still available
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "insufficient_funds")
    assert withdraw("1", "has space").status_code == 400
    assert http.post("/api/v1/wallet/withdrawals", json={"asset": "USDC", "amount": "1"},
                     headers=auth).status_code == 400  # no address
    assert eventually(lambda: balances(http, auth)["USDC"] == ("99649.5", "350.5")), balances(http, auth)
    first_id, second_id = first.json()["id"], second.json()["id"]
    listed = eventually(lambda: http.get("/api/v1/wallet/withdrawals", headers=auth).json()["items"])
    assert [(w["id"], w["status"], w["address"]) for w in listed] == [
        (second_id, "processing", "sol:addr-2"), (first_id, "processing", "sol:addr-1")]
    assert http.get(f"/api/v1/wallet/withdrawals/{first_id}", headers=other).status_code == 404  # not judy's
    assert http.post(f"/api/v1/admin/withdrawals/{first_id}/complete", headers=other).status_code == 403
    assert http.get("/api/v1/admin/withdrawals", headers=admin).status_code == 400  # which asset's queue?
    queue = http.get("/api/v1/admin/withdrawals", params={"asset": "USDC"}, headers=admin)
    assert queue.status_code == 200, queue.text
    assert {first_id, second_id} <= {w["id"] for w in queue.json()["items"]}

    done = http.post(f"/api/v1/admin/withdrawals/{first_id}/complete", json={"reference": "tx-0f1e"}, headers=admin)
    assert (done.status_code, done.json()["status"], done.json()["reference"]) == (200, "completed", "tx-0f1e"), \
        done.text
    again = http.post(f"/api/v1/admin/withdrawals/{first_id}/fail", headers=admin)
    assert again.status_code == 409, again.text  # settled once, whatever the read side shows yet
    failed = http.post(f"/api/v1/admin/withdrawals/{second_id}/fail", headers=admin)
    assert (failed.status_code, failed.json()["status"]) == (200, "failed"), failed.text

    # 250.5 left; 100 came back.
    assert eventually(lambda: balances(http, auth)["USDC"] == ("99749.5", "0")), balances(http, auth)
    assert eventually(lambda: http.get(f"/api/v1/wallet/withdrawals/{second_id}", headers=auth).json()["status"]
                      == "failed")
    shown = http.get(f"/api/v1/wallet/withdrawals/{first_id}", headers=auth).json()
    assert (shown["status"], shown["reference"], shown["settled_at"] is not None) == ("completed", "tx-0f1e", True)
    ledger = http.get("/api/v1/wallet/ledger", headers=auth).json()["items"]
    assert [(e["kind"], e["amount"], e["reference"]) for e in ledger if e["kind"] == "withdrawal"] == [
        ("withdrawal", "-250.5", "tx-0f1e")]
    queue = http.get("/api/v1/admin/withdrawals", params={"asset": "USDC"}, headers=admin).json()["items"]
    assert not {first_id, second_id} & {w["id"] for w in queue}


def test_api_keys_sign_requests_until_revoked(stack, http):
    from api.api_keys import signature

    account, auth = new_user(stack, "henry")
    created = http.post("/api/v1/api-keys", json={"label": "bot"}, headers=auth)
    assert created.status_code == 201, created.text
    key_id, secret = created.json()["key_id"], created.json()["secret"]

    def signed(method: str, path: str, body: bytes = b"", skew_ms: int = 0, secret_used: str = secret):
        timestamp = str(int(time.time() * 1000) + skew_ms)
        headers = {"X-API-Key": key_id, "X-API-Timestamp": timestamp,
                   "X-API-Signature": signature(secret_used, timestamp, method, path, body),
                   "Content-Type": "application/json"}
        return http.request(method, path, content=body, headers=headers)

    assert signed("GET", "/api/v1/balances").status_code == 200
    placed = signed("POST", "/api/v1/orders", b'{"market":"SOL_USDC","price":"1.01","quantity":"1","side":"buy"}')
    assert placed.status_code == 201 and placed.json()["status"] == "NEW", placed.text
    assert signed("GET", "/api/v1/balances", secret_used="0" * 64).status_code == 401
    assert signed("GET", "/api/v1/balances", skew_ms=-120_000).status_code == 401
    assert signed("POST", "/api/v1/admin/markets/SOL_USDC/halt").status_code == 403  # a key is never an admin
    assert signed("POST", "/api/v1/api-keys", b'{"label": "spawn"}').status_code == 403  # nor mints keys
    assert signed("POST", "/api/v1/auth/sign-out").status_code == 403
    assert signed("DELETE", f"/api/v1/api-keys/{key_id}").status_code == 403
    assert [k["key_id"] for k in http.get("/api/v1/api-keys", headers=auth).json()["items"]] == [key_id]
    assert http.delete(f"/api/v1/api-keys/{key_id}", headers=auth).status_code == 200
    revoked = signed("GET", "/api/v1/balances")
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(stack):
    import shutil
    from pathlib import Path

    _, auth = new_user(stack, "fuzzer")
    cli = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    # Not sign-out: it would sign the fuzzer's own token out, and every call after it with it.
    run = subprocess.run([cli, "run", f"{stack.base_url}/openapi.json", "--exclude-path", "/api/v1/auth/sign-out",
                          "--checks", "not_a_server_error,response_schema_conformance", "--max-examples", "20",
                          "--header", f"Authorization: {auth['Authorization']}", "--request-timeout", "10"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "generated" in run.stdout and " passed" in run.stdout  # it did run cases


def test_an_idle_keep_alive_connection_outlives_the_pools_of_polling_clients(stack):
    """aiohttp (under ccxt and Freqtrade) keeps an idle connection 15 s and a bot polls every 5 s: a
    server closing idle connections at 5 s meets the bot's next request on the way, now and then."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(stack.base_url)
    request = f"GET /healthz HTTP/1.1\r\nHost: {address.hostname}\r\n\r\n".encode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        for wait in (0, 16):  # longer than aiohttp's 15 s
            time.sleep(wait)
            connection.sendall(request)
            answer = connection.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200"), f"after {wait} s idle: {answer[:80]!r}"


READ_YOUR_WRITES_ROUNDS = 100


def test_each_write_is_in_the_accounts_very_next_read(stack, http, infra):
    """An order placed is listed at once, a cancel is gone from the list at once, a fill is in the
    balances and the fills at once: no polling, READ_YOUR_WRITES_ROUNDS times each, both sides of
    the trade. Without fresh reads (api/fresh_reads.py) most rounds miss one of them."""
    market = asyncio.run(fresh_market(infra))
    symbol, base = market["symbol"], market["base"]
    _, buyer = new_user(stack, "buyer")
    _, seller = new_user(stack, "seller")
    fund(http, seller, base, "1000")
    fund(http, buyer, "USDC", "100000")
    for n in range(1, READ_YOUR_WRITES_ROUNDS + 1):
        bid = http.post("/api/v1/orders", headers=buyer, json={"market": symbol, "price": "9", "quantity": "1",
                                                               "side": "buy"}).json()
        listed = [o["order_id"] for o in http.get("/api/v1/orders", headers=buyer).json()["items"]]
        assert listed == [bid["order_id"]], f"round {n}: the order just placed is not listed"
        assert http.get(f"/api/v1/orders/{bid['order_id']}", headers=buyer).json()["status"] == "NEW"
        assert http.delete(f"/api/v1/orders/{bid['order_id']}", headers=buyer).status_code == 200
        assert http.get("/api/v1/orders", headers=buyer).json()["items"] == [], f"round {n}: canceled, still listed"

        ask = http.post("/api/v1/orders", headers=seller, json={"market": symbol, "price": "10", "quantity": "1",
                                                                "side": "sell"})
        assert ask.status_code == 201 and ask.json()["status"] == "NEW", ask.text
        taken = http.post("/api/v1/orders", headers=buyer, json={"market": symbol, "price": "10", "quantity": "1",
                                                                 "side": "buy"})
        assert taken.json()["status"] == "FILLED", taken.text
        assert balances(http, buyer)[base] == (str(n), "0"), f"round {n}: the buyer's fill is not in balances"
        assert balances(http, seller)[base] == (str(1000 - n), "0"), f"round {n}: the seller's fill is not there"
        fills = http.get("/api/v1/my/trades", headers=buyer, params={"market": symbol}).json()["items"]
        assert len(fills) == min(n, 50), f"round {n}: the fill is not in the buyer's trades"


def test_a_statement_adds_up_to_the_ledger_and_the_balances(stack, http, infra):
    """Deposit, trade and withdraw, then: the statement's closing balances are the balances, its
    movements are the ledger's over the period, a period before the trade leaves it out, and the
    CSV says the same."""
    market = asyncio.run(fresh_market(infra, maker_fee="0.001", taker_fee="0.002"))
    symbol, base = market["symbol"], market["base"]
    _, buyer = new_user(stack, "stated")
    _, seller = new_user(stack, "counterparty")
    start = int(time.time() * 1000)
    fund(http, seller, base, "10")
    fund(http, buyer, "USDC", "100")
    assert http.post("/api/v1/orders", headers=seller, json={"market": symbol, "side": "sell", "price": "4",
                                                             "quantity": "2"}).status_code == 201
    before_trade = int(time.time() * 1000)
    time.sleep(0.01)
    taken = http.post("/api/v1/orders", headers=buyer, json={"market": symbol, "side": "buy", "price": "4",
                                                             "quantity": "2"})
    assert taken.json()["status"] == "FILLED", taken.text
    withdrawn = http.post("/api/v1/wallet/withdrawals", headers=buyer, json={"asset": base, "amount": "1",
                                                                             "address": "addr-123456"})
    assert withdrawn.status_code == 201, withdrawn.text
    admin = new_admin(stack, http)
    done = http.post(f"/api/v1/admin/withdrawals/{withdrawn.json()['id']}/complete", headers=admin,
                     json={"reference": "tx-123456"})
    assert done.status_code in (200, 202), done.text

    def statement(**params) -> dict:
        answer = http.get("/api/v1/statements", headers=buyer, params={"from": start, **params})
        assert answer.status_code == 200, answer.text
        return {row["asset"]: row for row in answer.json()["assets"]} | {"trades": answer.json()["trades"]}

    whole = eventually(lambda: (s := statement()) and s.get(base, {}).get("withdrawals") == "1" and s)
    assert whole[base] | {"asset": None} == {"asset": None, "opening": "0", "deposits": "0", "withdrawals": "1",
                                             "bought": "2", "sold": "0", "fees": "0", "other": "0", "closing": "1"}
    assert (whole["USDC"]["deposits"], whole["USDC"]["sold"], whole["USDC"]["fees"]) == ("100", "8", "0.016")
    assert Decimal(whole["USDC"]["closing"]) - Decimal(whole["USDC"]["opening"]) == Decimal("91.984")  # 8, 0.2 %
    assert [t["quantity"] for t in whole["trades"]] == ["2"]
    now = {b["asset"]: b for b in http.get("/api/v1/balances", headers=buyer).json()["items"]}
    for asset in (base, "USDC"):
        closing = Decimal(whole[asset]["closing"])
        assert closing == Decimal(now[asset]["available"]) + Decimal(now[asset]["held"])
    ledger = http.get("/api/v1/wallet/ledger", headers=buyer, params={"limit": 500}).json()["items"]
    for asset in (base, "USDC"):
        moved = sum(Decimal(e["amount"]) for e in ledger if e["asset"] == asset and e["time"] >= start)
        assert Decimal(whole[asset]["closing"]) - Decimal(whole[asset]["opening"]) == moved

    earlier = statement(to=before_trade)
    assert Decimal(earlier["USDC"]["closing"]) - Decimal(earlier["USDC"]["opening"]) == 100
    assert earlier["trades"] == [] and earlier.get(base, {"closing": "0"})["closing"] == "0"
    csv_text = http.get("/api/v1/statements", headers=buyer, params={"from": start, "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["asset"]: r["closing"] for r in rows if r["asset"] in (base, "USDC")} == {
        base: "1", "USDC": whole["USDC"]["closing"]}
    assert http.get("/api/v1/statements", headers=buyer, params={"from": 5, "to": 5}).status_code == 400
    assert http.get("/api/v1/statements", headers=buyer).status_code == 400  # from is required


def test_operators_see_each_markets_day_in_the_market_reports(stack, http, infra):
    market = asyncio.run(fresh_market(infra, maker_fee="0.001", taker_fee="0.002"))
    symbol = market["symbol"]
    _, maker = new_user(stack, "reported-maker")
    _, taker = new_user(stack, "reported-taker")
    fund(http, maker, market["base"], "10")
    http.post("/api/v1/orders", headers=maker, json={"market": symbol, "side": "sell", "price": "5", "quantity": "2"})
    http.post("/api/v1/orders", headers=taker, json={"market": symbol, "side": "buy", "price": "5", "quantity": "2"})
    admin = new_admin(stack, http)
    day = time.strftime("%Y-%m-%d", time.gmtime())

    def reported() -> dict | None:
        items = http.get("/api/v1/admin/reports/markets", headers=admin, params={"day": day}).json()["items"]
        return next((item for item in items if item["market"] == symbol), None)

    row = eventually(lambda: (r := reported()) and r["trades"] == 1 and r)
    assert row == {"market": symbol, "day": day, "volume": "2", "quote_volume": "10", "trades": 1,
                   "fee_income": "0.03", "fee_asset": "USDC", "traders": 2, "orders_placed": 2, "orders_canceled": 0}
    assert http.get("/api/v1/admin/reports/markets", headers=taker).status_code == 403
    text = http.get("/api/v1/admin/reports/markets", headers=admin, params={"day": day, "format": "csv"}).text
    assert f"{symbol},{day},2,10,1,0.03,USDC,2,2,0" in text.splitlines()
    assert http.get("/api/v1/admin/reports/markets", headers=admin, params={"day": "7 Dec"}).status_code == 400
    hours = [item for item in http.get("/api/v1/admin/reports/markets", headers=admin,
                                       params={"day": day, "by": "hour"}).json()["items"] if item["market"] == symbol]
    assert sum(h["trades"] for h in hours) == 1 and all(0 <= h["hour"] <= 23 for h in hours)
    traded = next(h for h in hours if h["trades"])
    assert {k: v for k, v in traded.items() if k != "hour"} == row  # the hour it traded in holds all of it
    hourly_csv = http.get("/api/v1/admin/reports/markets", headers=admin,
                          params={"day": day, "by": "hour", "format": "csv"}).text
    assert hourly_csv.splitlines()[0].startswith("market,day,hour,volume")
    assert http.get("/api/v1/admin/reports/markets", headers=admin, params={"by": "minute"}).status_code == 400
    cli = subprocess.run([sys.executable, "-m", "exchange.cli", "report", "markets", "--day", day, "--csv"],
                         env=stack.env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and f"{symbol},2,10,1,0.03 USDC,2,2,0" in cli.stdout.splitlines(), cli.stderr
    by_hour = subprocess.run([sys.executable, "-m", "exchange.cli", "report", "markets", "--day", day, "--by", "hour",
                              "--csv"], env=stack.env, capture_output=True, text=True, timeout=120)
    assert f"{traded['hour']:02d},{symbol},2,10,1,0.03 USDC,2,2,0" in by_hour.stdout.splitlines(), by_hour.stdout
    reconciled = subprocess.run([sys.executable, "-m", "exchange.cli", "report", "reconcile", "--asset",
                                 market["base"]], env=stack.env, capture_output=True, text=True, timeout=120)
    assert reconciled.returncode == 0 and "every asset reconciles" in reconciled.stdout, reconciled.stdout


def test_operators_see_every_assets_money_add_up_in_the_asset_reports(stack, http, infra):
    """A fresh asset: deposited, traded between two accounts, part withdrawn. The asset report
    shows what the accounts hold and what came in and left, and that they reconcile; the CLI
    agrees, and users cannot see it."""
    market = asyncio.run(fresh_market(infra))
    symbol, base = market["symbol"], market["base"]
    _, maker = new_user(stack, "asset-maker")
    _, taker = new_user(stack, "asset-taker")
    fund(http, maker, base, "10")
    http.post("/api/v1/orders", headers=maker, json={"market": symbol, "side": "sell", "price": "5", "quantity": "2"})
    http.post("/api/v1/orders", headers=taker, json={"market": symbol, "side": "buy", "price": "5", "quantity": "2"})
    admin = new_admin(stack, http)
    withdrawal = http.post("/api/v1/wallet/withdrawals", headers=taker,
                           json={"asset": base, "amount": "0.5", "address": "addr-1"})
    assert withdrawal.status_code == 201, withdrawal.text
    complete = f"/api/v1/admin/withdrawals/{withdrawal.json()['id']}/complete"
    done = eventually(lambda: (answer := http.post(complete, headers=admin)).status_code != 404 and answer)
    assert done.status_code in (200, 202), done.text  # found once the read side has the request

    def reported() -> dict | None:
        answer = http.get("/api/v1/admin/reports/assets", headers=admin).json()
        return next((item for item in answer["items"] if item["asset"] == base), None)

    row = eventually(lambda: (r := reported()) and r["withdrawals"] == "0.5" and r)
    assert row == {"asset": base, "holdings": "9.5", "fee_income": "0", "deposits": "10", "withdrawals": "0.5",
                   "difference": "0"}
    assert http.get("/api/v1/admin/reports/assets", headers=taker).status_code == 403
    text = http.get("/api/v1/admin/reports/assets", headers=admin, params={"format": "csv"}).text
    assert f"{base},9.5,0,10,0.5,0" in text.splitlines()
    assert http.get("/api/v1/admin/reports/assets", headers=admin, params={"format": "xml"}).status_code == 400
    cli = subprocess.run([sys.executable, "-m", "exchange.cli", "report", "assets", "--asset", base, "--csv"],
                         env=stack.env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and f"{base},9.5,0,10,0.5,0" in cli.stdout.splitlines(), cli.stdout + cli.stderr
