"""The notifier: which events become notifications, with ids that an event read again repeats."""

from __future__ import annotations

from types import SimpleNamespace

from exchange.reference import make_asset, make_market
from schemas.codec import codec
from schemas.topics import COMMAND_RESULTS, NOTIFICATIONS, ORDER_UPDATES, account_partition
from streams.notifier import NotifierStage

SOL, USDC = make_asset("SOL", 9, 0), make_asset("USDC", 6, 0)
MARKET = make_market("SOL_USDC", SOL, USDC, tick="0.01", step="0.01", partition=0, ts=0)
PARTITIONS = 4


def update(status: str, reason: str | None = None, filled: int = 0, fills: list | None = None, seq: int = 7) -> dict:
    return {"order_id": 42, "account": "ada", "market": "SOL_USDC", "side": "buy", "status": status,
            "filled_quantity": filled, "filled_quote": filled * 15000, "remaining_quantity": 200 - filled,
            "reason": reason, "ts": 1_700_000_000_000 + seq, "seq": seq, "fills": fills or []}


def result(kind: str, **fields) -> dict:
    return {"command_id": "c-1", "account": "bob", "accepted": True, "reason": None, "order_id": None,
            "ts": 1_700_000_000_500, "kind": kind, "asset": "USDC", "amount": 2_500_000, **fields}


def notified(*messages: tuple[str, dict]) -> list[dict]:
    stage = NotifierStage({"SOL_USDC": MARKET}, {"SOL": SOL, "USDC": USDC}, PARTITIONS)
    stage.begin(0)
    for topic, record in messages:
        stage.decide(SimpleNamespace(topic=topic), record)
    sent = stage.end().messages
    for out in sent:
        assert out.topic == NOTIFICATIONS and out.partition == account_partition(out.key, PARTITIONS)
        codec.encode(NOTIFICATIONS.record, out.record)  # a valid record of the topic
    return [out.record for out in sent]


def test_fills_and_ends_the_owner_did_not_ask_for_are_told():
    fill = {"trade_id": 1, "price": 15000, "quantity": 50, "quote": 750000, "fee": 0, "maker": False}
    notes = notified((ORDER_UPDATES.name, {"updates": [
        update("NEW"), update("PARTIALLY_FILLED", filled=50, fills=[fill], seq=8), update("FILLED", filled=200, seq=9),
        update("CANCELED", reason="user", seq=10), update("EXPIRED", reason="ioc", filled=50, seq=11),
        update("EXPIRED", reason="self_trade", seq=12), update("REJECTED", reason="insufficient_funds", seq=13)]}))
    assert [n["kind"] for n in notes] == ["order_partially_filled", "order_filled", "order_canceled", "order_canceled"]
    assert notes[1]["text"] == "Buy order 42 on SOL_USDC filled: 2 SOL"
    assert "immediate-or-cancel" in notes[2]["text"] and "after 0.5 SOL filled" in notes[2]["text"]
    assert "self-trade prevention" in notes[3]["text"]
    assert all(n["account"] == "ada" and n["order_id"] == 42 and n["market"] == "SOL_USDC" for n in notes)


def test_money_that_arrived_or_left_is_told_and_refusals_are_not():
    notes = notified((COMMAND_RESULTS.name, result("Deposit")),
                     (COMMAND_RESULTS.name, result("SettleWithdrawal", withdrawal_id="w-9", completed=True)),
                     (COMMAND_RESULTS.name, result("SettleWithdrawal", withdrawal_id="w-9", completed=False)),
                     (COMMAND_RESULTS.name, result("Deposit", accepted=False, reason="unknown_asset")),
                     (COMMAND_RESULTS.name, result("Withdraw")))
    assert [(n["kind"], n["text"]) for n in notes] == [
        ("deposit", "Deposit of 2.5 USDC credited"),
        ("withdrawal_completed", "Withdrawal w-9 of 2.5 USDC completed"),
        ("withdrawal_failed", "Withdrawal w-9 of 2.5 USDC failed; the funds are back")]
    assert notes[0]["reference"] == "c-1" and notes[1]["reference"] == "w-9"


def test_an_event_read_again_makes_the_same_notification_and_ids_sort_by_time():
    events = [(ORDER_UPDATES.name, {"updates": [update("FILLED", filled=200, seq=s)]}) for s in (3, 4)]
    first, again = notified(*events), notified(*events)
    assert first == again and len({n["id"] for n in first}) == 2
    assert sorted(n["id"] for n in first) == [n["id"] for n in sorted(first, key=lambda n: n["ts"])]
