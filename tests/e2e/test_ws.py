"""The WebSocket hub as clients use it, with orders placed over REST by real users."""

from __future__ import annotations

import asyncio
import base64
import email
import os
import random
import secrets
import socket
import time
from decimal import Decimal

import httpx
import orjson
import pytest
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from exchange.kafka_io import publish
from exchange.mail_catcher import DELIVERIES
from exchange.reference import make_asset, make_market
from schemas.codec import codec
from schemas.topics import ASSETS, DEAD_LETTERS, MARKETS, NOTIFICATIONS, TRADES
from schemas.vocabulary import SECURITY_KINDS
from streams.read_worker import READ_APP_ID
from tests.integration.flow import read_topic

from .markets import fresh_market
from .test_api import balances, eventually, fund, new_admin, new_user

pytestmark = pytest.mark.timeout(600)


async def connect(stack):
    return await websockets.connect(stack.ws_url, max_size=2**22)


async def call(ws, method: str, params: list, ident: int) -> dict:
    await ws.send(orjson.dumps({"method": method, "params": params, "id": ident}).decode())
    while True:
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if reply.get("id") == ident:
            return reply


async def collect(ws, until, timeout: float = 30.0) -> list[dict]:
    """Frames until `until(frames)` holds."""
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while not until(frames):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; got {[f.get('stream') for f in frames]}"
        try:
            frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), left)))
        except asyncio.TimeoutError:
            continue
    return frames


class SilentClient:
    """A WebSocket client that subscribes and then reads nothing, with a tiny socket buffer, so
    the hub's sends soon block (a real client's library would keep reading into memory)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, stack, stream: str) -> "SilentClient":
        host, port = "127.0.0.1", int(stack.ws_url.rsplit(":", 1)[1].split("/")[0])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += sock.recv(1)  # byte by byte: nothing past the headers is consumed
        assert b" 101 " in response.split(b"\r\n")[0], response
        payload = orjson.dumps({"method": "SUBSCRIBE", "params": [stream], "id": 1})
        mask = os.urandom(4)
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await asyncio.sleep(0.5)
        return cls(sock)

    async def read_to_end(self, timeout: float = 60.0) -> bytes:
        def read() -> bytes:
            self.sock.settimeout(timeout)
            chunks = []
            while chunk := self.sock.recv(1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)

        return await asyncio.to_thread(read)

    def close(self) -> None:
        self.sock.close()


async def drain(ws, quiet_s: float) -> list[dict]:
    """Every frame until none comes for `quiet_s`."""
    frames = []
    while True:
        try:
            frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), quiet_s)))
        except asyncio.TimeoutError:
            return frames


def streams_of(frames) -> set[str]:
    return {f["stream"] for f in frames if "stream" in f}


async def test_orders_over_rest_show_up_over_ws_public_and_private(stack, infra):
    market = await fresh_market(infra)
    symbol = market["symbol"]
    _, alice = new_user(stack, "wsalice")
    bob_id, bob = new_user(stack, "wsbob")
    price = "23.45"
    public = await connect(stack)
    private = await connect(stack)
    try:
        streams = [f"trades@{symbol}", f"depth@{symbol}", f"ticker@{symbol}", f"kline_1m@{symbol}"]
        assert await call(public, "SUBSCRIBE", streams, 1) == {"result": None, "id": 1}
        token = bob["Authorization"].split()[1]
        assert (await call(private, "AUTH", [token], 1))["result"] == {"account": bob_id}
        assert await call(private, "SUBSCRIBE", ["orders", "balances"], 2) == {"result": None, "id": 2}
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            with httpx.Client(base_url=stack.base_url, timeout=30) as sync_http:
                fund(sync_http, alice, market["base"], "10")
            ask = await http.post("/api/v1/orders", headers=alice, json={"market": symbol, "side": "sell",
                                                                       "price": price, "quantity": "1.5"})
            bid = await http.post("/api/v1/orders", headers=bob, json={"market": symbol, "side": "buy",
                                                                     "price": price, "quantity": "1.5"})
        assert ask.status_code == bid.status_code == 201, (ask.text, bid.text)
        frames = await collect(public, lambda fs: set(streams) <= streams_of(fs))
        [trade] = [f["data"] for f in frames if f["stream"] == f"trades@{symbol}"]
        assert (trade["e"], trade["s"], trade["p"], trade["q"], trade["m"]) == ("trade", symbol, price, "1.5", False)
        depth = [f["data"] for f in frames if f["stream"] == f"depth@{symbol}"]
        assert all(d["U"] <= d["u"] for d in depth) and depth[0]["e"] == "depthUpdate"
        assert depth[0]["a"] == [[price, "1.5"]]  # alice's ask appears, then is taken
        ticker = next(f["data"] for f in frames if f["stream"] == f"ticker@{symbol}")
        assert (ticker["c"], ticker["v"], ticker["n"]) == (price, "1.5", 1)
        kline = next(f["data"] for f in frames if f["stream"] == f"kline_1m@{symbol}")
        assert kline["k"]["i"] == "1m" and int(kline["k"]["n"]) >= 1
        mine = await collect(private, lambda fs: any(f.get("stream") == "orders" and f["data"]["X"] == "FILLED"
                                                     for f in fs) and "balances" in streams_of(fs))
        orders = [f["data"] for f in mine if f.get("stream") == "orders"]
        assert {o["i"] for o in orders} == {bid.json()["order_id"]}  # bob's own order, never alice's
        assert orders[-1]["z"] == "1.5" and orders[-1]["ap"] == price
    finally:
        await public.close()
        await private.close()


async def test_private_streams_need_auth_and_stay_apart(stack):
    alice_id, alice = new_user(stack, "wscarol")
    _, dave = new_user(stack, "wsdave")
    ws = await connect(stack)
    try:
        refused = await call(ws, "SUBSCRIBE", ["orders"], 1)
        assert "AUTH" in refused["error"]["message"]
        assert "error" in await call(ws, "AUTH", ["not-a-token"], 2)
        assert (await call(ws, "AUTH", [alice["Authorization"].split()[1]], 3))["result"] == {"account": alice_id}
        assert "error" in await call(ws, "AUTH", [dave["Authorization"].split()[1]], 4)  # one account per connection
        await call(ws, "SUBSCRIBE", ["orders"], 5)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            theirs = await http.post("/api/v1/orders", headers=dave, json={"market": "SOL_USDC", "side": "buy",
                                                                         "price": "1.05", "quantity": "1"})
            mine = await http.post("/api/v1/orders", headers=alice, json={"market": "SOL_USDC", "side": "buy",
                                                                        "price": "1.06", "quantity": "1"})
        frames = await collect(ws, lambda fs: any(f.get("stream") == "orders" for f in fs))
        await asyncio.sleep(1.0)
        frames += await drain(ws, quiet_s=0.5)
        seen = {f["data"]["i"] for f in frames if f.get("stream") == "orders"}
        assert seen == {mine.json()["order_id"]} and theirs.json()["order_id"] not in seen
    finally:
        await ws.close()


async def test_a_sign_out_closes_connections_opened_with_older_tokens_and_refuses_those_tokens(stack):
    ana_id, ana = new_user(stack, "wsana")
    _, bo = new_user(stack, "wsbo")
    old_token = ana["Authorization"].split()[1]
    ana_ws, bo_ws = await connect(stack), await connect(stack)
    try:
        assert (await call(ana_ws, "AUTH", [old_token], 1))["result"] == {"account": ana_id}
        assert "result" in await call(bo_ws, "AUTH", [bo["Authorization"].split()[1]], 1)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            assert (await http.post("/api/v1/auth/sign-out", headers=ana)).status_code == 200
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await collect(ana_ws, lambda frames: False, timeout=30)
        assert "signed out" in closed.value.rcvd.reason
        assert (await call(bo_ws, "LIST_SUBSCRIPTIONS", [], 2))["result"] == []  # another account: untouched
        again = await connect(stack)
        try:
            assert "signed out" in (await call(again, "AUTH", [old_token], 1))["error"]["message"]
        finally:
            await again.close()
    finally:
        await ana_ws.close()
        await bo_ws.close()


async def test_withdrawals_show_up_on_their_owners_private_stream_only(stack):
    _, ivy = new_user(stack, "wsivy")
    _, ken = new_user(stack, "wsken")
    mine, theirs = await connect(stack), await connect(stack)
    try:
        for ws, auth in ((mine, ivy), (theirs, ken)):
            assert "result" in await call(ws, "AUTH", [auth["Authorization"].split()[1]], 1)
            assert await call(ws, "SUBSCRIBE", ["withdrawals"], 2) == {"result": None, "id": 2}
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            admin = new_admin(stack, http)
            assert eventually(lambda: balances(http, ivy).get("USDC")) == ("100000", "0")
            asked = http.post("/api/v1/wallet/withdrawals", headers=ivy,
                              json={"asset": "USDC", "amount": "12.5", "address": "sol:ws-1"})
            assert asked.status_code == 201, asked.text
            too_much = http.post("/api/v1/wallet/withdrawals", headers=ivy,
                                 json={"asset": "USDC", "amount": "1000000", "address": "sol:ws-1"})
            assert too_much.status_code == 422, too_much.text
            done = http.post(f"/api/v1/admin/withdrawals/{asked.json()['id']}/complete", headers=admin,
                             json={"reference": "tx-ws"})
            assert done.status_code == 200, done.text
        frames = await collect(mine, lambda fs: any(f.get("stream") == "withdrawals" and f["data"]["X"] == "completed"
                                                    for f in fs))
        changes = [f["data"] for f in frames if f.get("stream") == "withdrawals"]
        ident = asked.json()["id"]
        # One account's results share a partition, so they arrive in the order they were decided.
        assert [(c["X"], c["q"], c["r"]) for c in changes] == [
            ("processing", "12.5", None), ("rejected", "1000000", "insufficient_funds"), ("completed", "12.5", None)]
        assert (changes[0]["i"], changes[0]["address"], changes[2]["i"], changes[2]["ref"]) == (
            ident, "sol:ws-1", ident, "tx-ws")
        assert not [f for f in await drain(theirs, quiet_s=1.0) if f.get("stream") == "withdrawals"]
    finally:
        await mine.close()
        await theirs.close()


async def test_fills_and_money_become_notifications_on_the_stream_and_over_rest(stack, infra):
    """A fill, an IOC remainder and a deposit are told to their owner, on the private stream as
    they happen and in GET /notifications with their read state; only the owner can mark them."""
    market = await fresh_market(infra)
    symbol = market["symbol"]
    maker_id, maker = new_user(stack, "maker")
    taker_id, taker = new_user(stack, "taker")
    ws = await connect(stack)
    try:
        assert (await call(ws, "AUTH", [taker["Authorization"].split()[1]], 1))["result"] == {"account": taker_id}
        assert await call(ws, "SUBSCRIBE", ["notifications"], 2) == {"result": None, "id": 2}
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            with httpx.Client(base_url=stack.base_url, timeout=30) as sync_http:
                fund(sync_http, maker, market["base"], "10")
                fund(sync_http, taker, "USDC", "7")
            await http.post("/api/v1/orders", headers=maker, json={"market": symbol, "side": "sell", "price": "2",
                                                                   "quantity": "1"})
            taken = await http.post("/api/v1/orders", headers=taker, json={
                "market": symbol, "side": "buy", "price": "2", "quantity": "3", "time_in_force": "IOC"})
            assert taken.json()["status"] == "EXPIRED", taken.text
            frames = await collect(ws, lambda fs: any(f.get("stream") == "notifications"
                                                       and f["data"]["kind"] == "order_canceled" for f in fs))
            streamed = [f["data"] for f in frames if f.get("stream") == "notifications"]
            ended = streamed[-1]
            assert ended["order_id"] == taken.json()["order_id"] and "after 1 " in ended["text"], ended
            assert any(n["kind"] == "deposit" and n["asset"] == "USDC" and "7 USDC" in n["text"] for n in streamed)

            def listed(auth, kind: str, **params) -> list[dict]:
                return eventually(lambda: (items := httpx.get(f"{stack.base_url}/api/v1/notifications",
                                                              headers=auth, params=params).json()["items"])
                                  and items[0]["kind"] == kind and items)

            mine = listed(taker, "order_canceled")  # newest first; before: deposits and the sign-in
            assert mine[0]["id"] == ended["id"] and {n["kind"] for n in mine[1:]} == {"deposit", "login"}
            assert not any(n["read"] for n in mine)
            assert listed(maker, "order_filled")[0]["order_id"] is not None
            count = (await http.get("/api/v1/notifications/unread-count", headers=taker)).json()
            assert count == {"unread": len(mine), "more": False}
            assert (await http.post(f"/api/v1/notifications/{mine[1]['id']}/read", headers=maker)).status_code == 404
            assert (await http.post(f"/api/v1/notifications/{mine[1]['id']}/read", headers=taker)).status_code == 200
            unread = (await http.get("/api/v1/notifications", headers=taker, params={"unread": "true"})).json()
            assert [n["id"] for n in unread["items"]] == [n["id"] for n in mine if n["id"] != mine[1]["id"]]
            assert unread["next"] is None
            assert (await http.post("/api/v1/notifications/read-all", headers=taker)).json() == {
                "read_through": mine[0]["id"]}
            assert (await http.get("/api/v1/notifications/unread-count", headers=taker)).json()["unread"] == 0
            page = (await http.get("/api/v1/notifications", headers=taker, params={"limit": "1"})).json()
            assert [n["id"] for n in page["items"]] == [mine[0]["id"]] and page["next"] == mine[0]["id"]
            rest = (await http.get("/api/v1/notifications", headers=taker,
                                   params={"limit": "1", "cursor": page["next"]})).json()
            assert [n["id"] for n in rest["items"]] == [mine[1]["id"]] and all(n["read"] for n in rest["items"])
            bad = await http.get("/api/v1/notifications", headers=taker, params={"unread": "yes"})
            assert bad.status_code == 400
    finally:
        await ws.close()


async def test_security_events_are_told_to_their_owner_only(stack):
    """A sign-in, an API key created and revoked, a password change and signing out everywhere
    each become a notification of their account, on the stream and over REST."""
    owner_id, owner = new_user(stack, "careful")
    _, other = new_user(stack, "other")
    ws = await connect(stack)
    try:
        assert (await call(ws, "AUTH", [owner["Authorization"].split()[1]], 1))["result"] == {"account": owner_id}
        await call(ws, "SUBSCRIBE", ["notifications"], 2)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            email = (await http.get("/api/v1/auth/me", headers=owner)).json()["email"]
            key = (await http.post("/api/v1/api-keys", headers=owner, json={"label": "bot"})).json()["key_id"]
            assert (await http.delete(f"/api/v1/api-keys/{key}", headers=owner)).status_code == 200
            streamed = await collect(ws, lambda fs: len([f for f in fs if f.get("stream") == "notifications"]) >= 2)
            assert [f["data"]["kind"] for f in streamed if f.get("stream") == "notifications"][:2] == [
                "api_key_created", "api_key_revoked"]
            changed = await http.post("/api/v1/auth/password", headers=owner, json={  # closes the stream
                "current_password": "s3cret-pass", "new_password": "an0ther-pass"})
            assert changed.status_code == 200, changed.text
            fresh = {"Authorization": f"Bearer {changed.json()['token']}"}
            assert (await http.post("/api/v1/auth/sign-out", headers=fresh)).status_code == 200
            login = await http.post("/api/v1/auth/login", json={"email": email, "password": "an0ther-pass"})
            assert login.status_code == 200, login.text
        after = {"Authorization": f"Bearer {login.json()['token']}"}

        def told(auth) -> list[dict]:
            return httpx.get(f"{stack.base_url}/api/v1/notifications", headers=auth).json()["items"]

        mine = eventually(lambda: (items := told(after)) and items[0]["kind"] == "login"
                          and items[1]["kind"] == "signed_out" and items)
        security = [n for n in mine if n["kind"] in SECURITY_KINDS]  # a new user's demo deposits are there too
        assert [n["kind"] for n in security] == ["login", "signed_out", "password_changed", "api_key_revoked",
                                                 "api_key_created", "login"]  # the first: new_user's sign-in
        assert security[0]["text"] == "Signed in from 127.0.0.1" and security[3]["reference"] == key
        theirs = eventually(lambda: told(other))
        assert [n["kind"] for n in theirs if n["kind"] in SECURITY_KINDS] == ["login"]
    finally:
        await ws.close()


async def test_a_slow_client_is_cut_off_while_a_fast_one_gets_everything(stack, infra):
    # A market of its own, flooded with trades straight on Kafka, so nothing else is disturbed.
    symbol = "F" + secrets.token_hex(3).upper()
    base = make_asset(symbol, 6, 0)
    await publish(infra, ASSETS, symbol, base)
    usdc = make_asset("USDC", 6, 0)
    market = make_market(f"{symbol}_USDC", base, usdc, tick="0.01", step="0.01", partition=0, ts=0)
    await publish(infra, MARKETS, market["symbol"], market)
    await asyncio.sleep(2)  # the hub picks the market up from its topic
    fast, slow = await connect(stack), await SilentClient.open(stack, f"trades@{market['symbol']}")
    count = 60_000  # more than the kernel's socket buffers hold, so the slow one's queue fills
    try:
        assert (await call(fast, "SUBSCRIBE", [f"trades@{market['symbol']}"], 1))["result"] is None
        reading = asyncio.create_task(collect(fast, lambda fs: len(fs) >= count, timeout=180))
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, linger_ms=5)
        await producer.start()
        try:
            for start in range(0, count, 100):
                batch = [{"trade_id": start + i + 1, "market": market["symbol"], "price": 100, "quantity": 1,
                          "quote": 10000, "taker_side": "buy", "maker_order_id": 1, "maker_account": "m",
                          "taker_order_id": 2, "taker_account": "t", "maker_fee": 0, "taker_fee": 0,
                          "ts": int(time.time() * 1000)} for i in range(100)]
                await producer.send(TRADES.name, codec.encode(TRADES.record, {"market": market["symbol"],
                                                                              "trades": batch}),
                                    key=market["symbol"].encode(), partition=0)
                await asyncio.sleep(0.02)  # a busy market, about 5,000 trades a second
            await producer.flush()
        finally:
            await producer.stop()
        ids = [f["data"]["t"] for f in await reading]
        assert ids == list(range(1, count + 1))  # all, in order
        data = await slow.read_to_end()
        assert b"slow consumer" in data  # the close frame's reason, after what its buffers held
        assert len(data) < count * 150  # it was cut off long before the end of the flood
    finally:
        await fast.close()
        slow.close()


async def test_garbage_frames_get_errors_and_the_hub_carries_on(stack):
    ws = await connect(stack)
    try:
        for junk in ["{not json", "[]", '"text"', '{"method": "NOPE", "id": 1}',
                     '{"method": "SUBSCRIBE", "params": "x"}',
                     '{"method": "SUBSCRIBE", "params": ["trades@NOPE"], "id": 2}', '{"id": {"a": 1}}']:
            await ws.send(junk)
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert "error" in reply, junk
        await ws.send(os.urandom(300))  # binary
        assert "error" in orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    finally:
        await ws.close()
    huge = await connect(stack)
    await huge.send("x" * 200_000)  # over the 64 KiB frame limit: this connection is closed
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(huge.recv(), 10)
    flood = await connect(stack)
    with pytest.raises(websockets.ConnectionClosed):
        for i in range(200):  # far over 10 messages a second
            await flood.send('{"method": "LIST_SUBSCRIPTIONS", "id": %d}' % i)
        for _ in range(400):
            await asyncio.wait_for(flood.recv(), 10)
    for seed in range(5):  # bytes that are not WebSocket frames at all: that connection is closed
        raw = await SilentClient.open(stack, "trades@SOL_USDC")
        raw.sock.sendall(random.Random(seed).randbytes(2000))
        await raw.read_to_end(timeout=20)  # returns at EOF: the hub hung up
        raw.close()
    fine = await connect(stack)
    try:
        assert await call(fine, "SUBSCRIBE", ["trades@SOL_USDC"], 9) == {"result": None, "id": 9}
    finally:
        await fine.close()


async def test_after_a_hub_restart_a_client_resyncs_the_book_from_snapshot_and_diffs(stack):
    _, trader = new_user(stack, "wsbook")
    stack.stop("ws")
    stack.start("ws", "ws")
    stack.wait_ready()
    ws = await connect(stack)  # the client reconnects and resubscribes
    try:
        await call(ws, "SUBSCRIBE", ["depth@SOL_USDC"], 1)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
            for i in range(12):  # orders resting and cancelled: the book moves
                side = "buy" if i % 2 else "sell"
                price = f"{(50 if side == 'buy' else 5000) + i}.01"
                placed = await http.post("/api/v1/orders", headers=trader, json={
                    "market": "SOL_USDC", "side": side, "price": price, "quantity": "0.5"})
                assert placed.status_code == 201
                if i % 3 == 0:
                    await http.delete(f"/api/v1/orders/{placed.json()['order_id']}", headers=trader)
            diffs = await collect(ws, lambda fs: sum("stream" in f for f in fs) >= 3)
            snapshot = (await http.get("/api/v1/depth", params={"market": "SOL_USDC", "limit": 5000})).json()
            await asyncio.sleep(2)
            diffs += await drain(ws, quiet_s=1.0)
            last = max(f["data"]["u"] for f in diffs if "stream" in f)
            for _ in range(60):  # the recorder writes the snapshot a moment after the hub sends the diff
                final = (await http.get("/api/v1/depth", params={"market": "SOL_USDC", "limit": 5000})).json()
                if final["last_update_id"] >= last:
                    break
                await asyncio.sleep(0.5)
        book = {"b": {p: q for p, q in snapshot["bids"]}, "a": {p: q for p, q in snapshot["asks"]}}
        book_id = snapshot["last_update_id"]
        kept = [f["data"] for f in diffs if "stream" in f and f["data"]["u"] > book_id]
        for diff in kept:
            assert diff["U"] <= book_id + 1, "a diff was lost"
            for side in ("b", "a"):
                for price, qty in diff[side]:
                    if qty == "0":
                        book[side].pop(price, None)
                    else:
                        book[side][price] = qty
            book_id = diff["u"]
        assert book_id == final["last_update_id"]
        assert book["b"] == dict(map(tuple, final["bids"])) and book["a"] == dict(map(tuple, final["asks"]))
    finally:
        await ws.close()


def _mails(stack) -> list[email.message.Message]:
    return [email.message_from_bytes(path.read_bytes()) for path in sorted(stack.mail.glob("*.eml"))]


def _sign_up(stack, address: str) -> tuple[str, dict]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        made = http.post("/api/v1/auth/signup", json={"username": "mailed", "email": address,
                                                       "password": "s3cret-pass"})
        assert made.status_code == 201, made.text
        token = http.post("/api/v1/auth/login", json={"email": address, "password": "s3cret-pass"}).json()["token"]
    return made.json()["account_id"], {"Authorization": f"Bearer {token}"}


async def test_notifications_go_by_email_as_chosen_once_each_even_when_all_are_read_again(stack, infra):
    """A real SMTP server (the development catcher) takes the e-mail: the sign-in goes (security
    events are on by default), a fill goes once turned on; read again from the topic's start, no
    notification is e-mailed twice; a recipient the server refuses ends in the dead letters."""
    market = await fresh_market(infra)
    tps = [TopicPartition(NOTIFICATIONS.name, p) for p in range(infra.partitions)]
    probe = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await probe.start()
    try:
        test_starts = await probe.end_offsets(tps)  # what this test's notifications come after
    finally:
        await probe.stop()
    address = f"mailed-{secrets.token_hex(4)}@example.com"
    account, auth = _sign_up(stack, address)
    _, seller = new_user(stack, "seller")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        assert (await http.get("/api/v1/notifications/preferences", headers=auth)).json()["email"]["login"] is True
        chosen = await http.put("/api/v1/notifications/preferences", headers=auth,
                                json={"email": {"order_filled": True}})
        assert chosen.status_code == 200 and chosen.json()["email"]["order_filled"] is True
        refused = await http.put("/api/v1/notifications/preferences", headers=auth,
                                 json={"email": {"order_filed": True}})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "email"
        with httpx.Client(base_url=stack.base_url, timeout=30) as sync_http:
            fund(sync_http, seller, market["base"], "5")
            fund(sync_http, auth, "USDC", "100")
        await http.post("/api/v1/orders", headers=seller, json={"market": market["symbol"], "side": "sell",
                                                                "price": "3", "quantity": "1"})
        bought = await http.post("/api/v1/orders", headers=auth, json={"market": market["symbol"], "side": "buy",
                                                                       "price": "3", "quantity": "1"})
        assert bought.json()["status"] == "FILLED"

    def mine() -> list[email.message.Message]:
        return [m for m in _mails(stack) if m["To"] == address]

    kinds = eventually(lambda: (got := mine()) and any("filled" in m["Subject"] for m in got) and got)
    assert any("Signed in from" in m["Subject"] for m in kinds)
    assert not any("Deposit" in m["Subject"] for m in kinds)  # not turned on
    ids = sorted(m["Message-ID"] for m in kinds)
    assert len(ids) == len(set(ids)) and all(i.endswith("@kafka-exchange>") for i in ids)

    # Every notification since the test began read again: the mailer finds each one sent already.
    stack.stop("recorder")
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=READ_APP_ID,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.commit(test_starts)
    finally:
        await consumer.stop()
    stack.start("recorder")
    stack.wait_ready()
    refused_address = f"mailed+refuse-{secrets.token_hex(4)}@example.com"
    refused_account, _ = _sign_up(stack, refused_address)  # its sign-in e-mail is refused (550)

    def dead_letter() -> dict | None:
        for _, value in asyncio.run(read_topic(infra, DEAD_LETTERS.name)):
            letter = codec.decode_as(DEAD_LETTERS.record, value)
            if letter["topic"] == NOTIFICATIONS.name and refused_account.encode() == letter["key"]:
                return letter
        return None

    letter = await asyncio.to_thread(eventually, dead_letter, 60)
    assert letter is not None and "recipient refused" in letter["reason"]
    copies = [line for line in (stack.mail / DELIVERIES).read_text().splitlines()
              if line.split()[1] == "copy" and line.split()[2] in set(ids)]
    assert not copies  # none of them e-mailed twice (the catcher keeps one of each, but logs every delivery)
    assert sorted(m["Message-ID"] for m in mine()) == ids
    assert not [m for m in _mails(stack) if m["To"] == refused_address]


def test_an_email_waits_for_a_mail_server_that_is_down_and_goes_once_it_is_back(stack):
    address = f"patient-{secrets.token_hex(4)}@example.com"
    stack.stop("mail-catcher")
    try:
        _sign_up(stack, address)  # its sign-in is told while no mail server answers
        time.sleep(10)  # longer than 5 tries take (0.5 s doubling): an outage gives nothing up
    finally:
        stack.start("mail-catcher")
    mails = eventually(lambda: [m for m in _mails(stack) if m["To"] == address], timeout=60)
    assert len(mails) == 1 and "Signed in from" in mails[0]["Subject"]


def test_each_email_arrives_once_though_the_mailer_is_killed_while_sending(stack):
    """Deposits keep coming while the read app (notifier and mailer) is killed -9 twice, once as
    the first e-mails go and once in the middle of the backlog after its restart. Every deposit's
    e-mail is in the mailbox exactly once; a copy the server got from a kill (a message taken just
    before the kill could note it) is at most one per kill, with the same Message-ID."""
    deposits, kills = 120, 2
    address = f"kill-mailed-{secrets.token_hex(4)}@example.com"
    _, auth = _sign_up(stack, address)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        chosen = http.put("/api/v1/notifications/preferences", headers=auth, json={"email": {"deposit": True}})
        assert chosen.status_code == 200, chosen.text

    def deposit_all() -> None:
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            for n in range(deposits):
                fund(http, auth, "USDC", str(n + 1))
                time.sleep(0.03)

    def mine() -> list[email.message.Message]:
        return [m for m in _mails(stack) if m["To"] == address and "Deposit" in m["Subject"]]

    async def run() -> None:
        depositing = asyncio.create_task(asyncio.to_thread(deposit_all))
        await asyncio.to_thread(eventually, lambda: len(mine()) >= 3, 60)
        stack.kill("recorder")  # the first e-mails are going
        stack.start("recorder")
        before = len(mine())
        await asyncio.to_thread(eventually, lambda: len(mine()) >= before + 15, 120)
        stack.kill("recorder")  # in the middle of the backlog that piled up meanwhile
        stack.start("recorder")
        await depositing

    asyncio.run(run())

    def told() -> set[str]:
        """The account's deposit notifications, as the REST API lists them (demo funds included)."""
        ids, cursor = set(), None
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            while True:
                page = http.get("/api/v1/notifications", headers=auth,
                                params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
                ids |= {f"<{n['id']}@kafka-exchange>" for n in page["items"] if n["kind"] == "deposit"}
                if not (cursor := page["next"]):
                    return ids

    expected = eventually(lambda: len(ids := told()) >= deposits and ids, 120)
    got = eventually(lambda: len(mails := mine()) >= len(expected) and mails, 180)
    ids = [m["Message-ID"] for m in got]
    assert len(ids) == len(set(ids)), "a deposit's e-mail is kept twice"
    assert set(ids) == expected, "each deposit told is e-mailed"
    amounts = [Decimal(m["Subject"].split("Deposit of ")[1].split(" USDC")[0]) for m in got if "USDC" in m["Subject"]]
    assert set(range(1, deposits + 1)) <= set(amounts)
    deliveries = (stack.mail / DELIVERIES).read_text().splitlines()
    copies = [line for line in deliveries if line.split()[1] == "copy" and line.split()[2] in set(ids)]
    assert len(copies) <= kills, copies
