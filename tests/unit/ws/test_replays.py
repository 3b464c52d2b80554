"""What a matching worker sends again after a crash reaches WebSocket clients once, in order."""

import orjson

from exchange.config import Settings
from exchange.reference import make_asset, make_market
from schemas.codec import codec
from schemas.topics import DEPTH, ORDER_UPDATES, TRADES
from ws.hub import Hub
from ws.replays import LastForwarded

SOL, USDC = make_asset("SOL", 9, 0), make_asset("USDC", 6, 0)
MARKET = make_market("SOL_USDC", SOL, USDC, tick="0.01", step="0.001", partition=0, ts=0)


class Client:
    def __init__(self, account: str | None = None, token_ms: int = 0) -> None:
        self.pending: list[bytes] = []
        self.account = account
        self.private_streams = {"orders"}
        self.token_ms = token_ms
        self.closed: str | None = None

    def cut_off(self, reason: str) -> None:
        self.closed = reason

    def frames(self) -> list[dict]:
        return [orjson.loads(frame[frame.index(b"{"):]) for frame in self.pending]


def hub_with(client: Client) -> Hub:
    hub = Hub(Settings.from_env({"HOME": "/tmp"}))
    hub.assets.update(SOL=SOL, USDC=USDC)
    hub.markets["SOL_USDC"] = MARKET
    for stream in ("trades@SOL_USDC", "depth@SOL_USDC"):
        hub.subscribe(client, stream)
    hub.follow_account(client, "ana")
    return hub


def trades(*ids: int) -> bytes:
    return codec.encode(TRADES.record, {"market": "SOL_USDC", "trades": [
        {"trade_id": i, "market": "SOL_USDC", "price": 15000, "quantity": 1, "quote": 150_000, "taker_side": "buy",
         "maker_order_id": 1, "maker_account": "bo", "taker_order_id": 2, "taker_account": "ana", "maker_fee": 0,
         "taker_fee": 0, "ts": 5} for i in ids]})


def depth(first: int, last: int) -> bytes:
    return codec.encode(DEPTH.record, {"market": "SOL_USDC", "first_update_id": first, "last_update_id": last,
                                       "bids": [{"price": 15000, "quantity": last}], "asks": [], "ts": 5})


def update(seq: int, filled: int) -> dict:
    return {"seq": seq, "order_id": 2, "account": "ana", "market": "SOL_USDC", "side": "buy",
            "status": "PARTIALLY_FILLED", "filled_quantity": filled, "filled_quote": filled * 150,
            "remaining_quantity": 10 - filled, "reason": None, "ts": 5}


def test_a_replay_regrouped_differently_shows_nothing_twice_and_nothing_older():
    client = Client("ana")
    hub = hub_with(client)
    key = b"SOL_USDC"
    # First delivery: one take of three input messages. The replay after a crash: two takes.
    hub._on(TRADES.name, key, trades(1, 2, 3), 0)
    hub._on(DEPTH.name, key, depth(1, 6), 0)
    hub._on(ORDER_UPDATES.name, key, codec.encode(ORDER_UPDATES.record,
                                                   {"market": "SOL_USDC", "updates": [update(5, 3)]}), 0)
    hub._on(TRADES.name, key, trades(1, 2), 0)
    hub._on(DEPTH.name, key, depth(1, 4), 0)
    hub._on(ORDER_UPDATES.name, key, codec.encode(ORDER_UPDATES.record,
                                                   {"market": "SOL_USDC", "updates": [update(3, 2)]}), 0)
    hub._on(TRADES.name, key, trades(3, 4), 0)
    hub._on(DEPTH.name, key, depth(5, 8), 0)
    hub._on(ORDER_UPDATES.name, key, codec.encode(ORDER_UPDATES.record,
                                                   {"market": "SOL_USDC", "updates": [update(7, 4)]}), 0)
    frames = client.frames()
    assert [f["data"]["t"] for f in frames if f["stream"] == "trades@SOL_USDC"] == [1, 2, 3, 4]
    assert [(f["data"]["U"], f["data"]["u"]) for f in frames if f["stream"] == "depth@SOL_USDC"] == [(1, 6), (5, 8)]
    assert [f["data"]["z"] for f in frames if f["stream"] == "orders"] == ["0.003", "0.004"]


def test_the_memory_is_bounded():
    seen = LastForwarded(limit=3)
    assert [seen.is_new(key, 1) for key in "abc"] == [True] * 3
    assert not seen.is_new("a", 1) and seen.is_new("a", 2)
    assert seen.is_new("d", 1)  # the fourth key: everything before is forgotten
    assert seen.is_new("a", 1)


def test_a_sign_out_closes_the_connections_its_account_opened_with_older_tokens_only():
    older, newer, other = Client("ana", token_ms=1_000), Client("ana", token_ms=3_000), Client("bo", token_ms=1_000)
    hub = hub_with(older)
    hub.follow_account(newer, "ana")
    hub.follow_account(other, "bo")
    hub.reference.signed_out({"account": "ana", "before_ms": 2_000, "reason": "password_changed"})
    hub.reference.signed_out({"account": "ana", "before_ms": 1_500, "reason": "signed_out"})  # older: ignored
    assert "signed out" in older.closed and newer.closed is None and other.closed is None
    assert hub.reference.sign_outs["ana"]["before_ms"] == 2_000
