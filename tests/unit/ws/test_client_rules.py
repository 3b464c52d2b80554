"""A connection's rules, fed whatever a client may send: every message gets exactly one reply,
a result or an error, and nothing raises. Subscriptions reach the hub only when valid."""

from __future__ import annotations

import time
from types import SimpleNamespace

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from api.security import DEV_SECRET, issue_token
from ws.client import MAX_STREAMS, Client
from ws.connection import FRAMES


class Frames:
    """The frame writer's side of a connection, kept in memory."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, frames: bytes) -> int:
        self.sent.append(frames)
        return 0

    def replies(self) -> list[dict]:
        out = []
        for frame in self.sent:
            assert frame[0] == 0x81  # one text frame per reply
            size, head = frame[1], 2
            if size == 126:
                size, head = int.from_bytes(frame[2:4], "big"), 4
            assert len(frame) == head + size
            out.append(orjson.loads(frame[head:]))
        return out


class Hub:
    markets = {"SOL_USDC"}

    def __init__(self) -> None:
        self.public: dict[str, set] = {}
        self.private: dict[str, set] = {}
        self.reference = SimpleNamespace(sign_outs={})
        self.binance = BinanceFeeds()

    def valid_stream(self, stream: str) -> bool:
        kind, _, symbol = stream.partition("@")
        return symbol in self.markets and kind in ("trades", "depth", "ticker", "kline_1m")

    def subscribe(self, client, stream: str) -> None:
        self.public.setdefault(stream, set()).add(client)

    def unsubscribe(self, client, stream: str) -> None:
        self.public.get(stream, set()).discard(client)

    def follow_account(self, client, account: str) -> None:
        self.private.setdefault(account, set()).add(client)


class BinanceFeeds:
    """Binance's stream names of the one market (ws/binance_hub.py's part the connection uses)."""

    def __init__(self) -> None:
        self.raw: dict[str, set] = {}

    def market_of(self, stream: str):
        return {"symbol": "SOL_USDC"} if stream in ("solusdc@trade", "solusdc@depth") else None

    def subscribe(self, client, stream: str, combined: bool) -> None:
        self.raw.setdefault(stream, set()).add(client)

    def unsubscribe(self, client, stream: str) -> None:
        self.raw.get(stream, set()).discard(client)


class Socket:
    def __init__(self) -> None:
        self.scope = {"extensions": {FRAMES: Frames()}}


def client() -> Client:
    return Client(Socket(), Hub(), DEV_SECRET)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)
streams = st.sampled_from(["trades@SOL_USDC", "depth@SOL_USDC", "kline_1m@SOL_USDC", "trades@NOPE", "orders",
                           "balances", "", "x" * 500, "solusdc@trade", "solusdc@depth", "SOLUSDC@trade"])
messages = st.one_of(
    st.text(max_size=200),  # anything at all
    json_values.map(lambda v: orjson.dumps(v).decode()),
    st.fixed_dictionaries({"method": st.sampled_from(["SUBSCRIBE", "UNSUBSCRIBE", "AUTH", "LIST_SUBSCRIPTIONS",
                                                      "NOPE", None]),
                           "params": st.one_of(st.lists(streams, max_size=5), json_values),
                           "id": st.one_of(st.integers(-2**63, 2**63 - 1), st.text(max_size=5), json_values)})
    .map(lambda m: orjson.dumps(m).decode()),
)


@settings(max_examples=300)
@given(st.lists(messages, min_size=1, max_size=10))
def test_every_message_gets_one_reply_and_nothing_raises(texts):
    c = client()
    for text in texts:
        before = len(c.ws.scope["extensions"][FRAMES].sent)
        c._handle(text)
        replies = c.ws.scope["extensions"][FRAMES].replies()
        assert len(replies) == before + 1
        assert ("result" in replies[-1]) != ("error" in replies[-1])
    # Only valid public streams reach the hub; private ones never without AUTH.
    assert set(c.hub.public) <= {"trades@SOL_USDC", "depth@SOL_USDC", "kline_1m@SOL_USDC"}
    assert set(c.hub.binance.raw) <= {"solusdc@trade", "solusdc@depth"}
    assert not c.private_streams and len(c.streams) <= MAX_STREAMS


def test_private_streams_open_only_to_a_valid_token_and_one_account():
    c = client()
    c._handle('{"method": "SUBSCRIBE", "params": ["orders"], "id": 1}')
    c._handle('{"method": "AUTH", "params": ["not-a-token"], "id": 2}')
    c._handle(orjson.dumps({"method": "AUTH", "params": [issue_token(DEV_SECRET, "acct-1", "u", 60)], "id": 3}))
    c._handle('{"method": "SUBSCRIBE", "params": ["orders", "balances"], "id": 4}')
    c._handle(orjson.dumps({"method": "AUTH", "params": [issue_token(DEV_SECRET, "acct-2", "v", 60)], "id": 5}))
    replies = c.ws.scope["extensions"][FRAMES].replies()
    assert [("error" in r) for r in replies] == [True, True, False, False, True]
    assert replies[2]["result"] == {"account": "acct-1"}
    assert c.private_streams == {"orders", "balances"} and c.hub.private == {"acct-1": {c}}


def test_a_token_issued_before_its_accounts_sign_out_cannot_authenticate():
    c = client()
    old = issue_token(DEV_SECRET, "acct-1", "u", 60)
    c.hub.reference.sign_outs["acct-1"] = {"account": "acct-1", "before_ms": time.time_ns() // 10**6 + 1,
                                          "reason": "password_changed"}
    time.sleep(0.002)
    c._handle(orjson.dumps({"method": "AUTH", "params": [old], "id": 1}))
    c._handle(orjson.dumps({"method": "AUTH", "params": [issue_token(DEV_SECRET, "acct-1", "u", 60)], "id": 2}))
    replies = c.ws.scope["extensions"][FRAMES].replies()
    assert "signed out" in replies[0]["error"]["message"]
    assert replies[1]["result"] == {"account": "acct-1"} and c.account == "acct-1"


def test_errors_come_in_binances_shape_on_its_endpoints_and_for_its_stream_names():
    own, binance = client(), Client(Socket(), Hub(), DEV_SECRET, binance=True)
    for c in (own, binance):
        c._handle('{"method": "SUBSCRIBE", "params": ["trades@NOPE"], "id": 1}')
        c._handle('{"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 2}')
        c._handle("{not json")
    own_replies, binance_replies = (c.ws.scope["extensions"][FRAMES].replies() for c in (own, binance))
    # /ws: the exchange's own shape, except for a request naming Binance's streams.
    assert own_replies[0]["error"]["code"] == "bad_request" and "message" in own_replies[0]["error"]
    assert own_replies[1] == {"error": {"code": 2, "msg": "Invalid request: unknown stream 'nosuch@trade'"}, "id": 2}
    assert own_replies[2]["error"]["code"] == "bad_request"
    # Binance's endpoints: always Binance's {"code": int, "msg"}; 3 for what is not JSON.
    assert [r["error"]["code"] for r in binance_replies] == [2, 2, 3]
    assert binance_replies[2]["error"]["msg"].startswith("Invalid JSON")
