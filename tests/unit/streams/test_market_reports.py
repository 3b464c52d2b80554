"""Operator reports count each trade and order update once, per market and UTC day and hour."""

from __future__ import annotations

from types import SimpleNamespace

from schemas.codec import codec
from schemas.topics import MARKET_REPORTS, ORDER_UPDATES, TRADES
from streams.market_reports import MarketReportsStage, row_key

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DAY1, DAY2 = 20_000 * DAY_MS, 20_001 * DAY_MS  # 2024-10-04 and -05, UTC


def trade(trade_id: int, ts: int, maker: str = "ada", taker: str = "bob") -> dict:
    return {"trade_id": trade_id, "market": "SOL_USDC", "price": 100, "quantity": 3, "quote": 300,
            "taker_side": "buy", "maker_order_id": 1, "maker_account": maker, "taker_order_id": 2,
            "taker_account": taker, "maker_fee": 1, "taker_fee": 2, "ts": ts}


def update(seq: int, ts: int, status: str, first: bool = False) -> dict:
    return {"order_id": seq, "account": "ada", "market": "SOL_USDC", "side": "buy", "status": status,
            "filled_quantity": 0, "filled_quote": 0, "remaining_quantity": 1, "reason": None, "ts": ts, "seq": seq,
            "type": "limit" if first else None}


def take(stage: MarketReportsStage, table: dict, *messages) -> list[dict]:
    stage.begin(0)
    for topic, record in messages:
        stage.decide(SimpleNamespace(topic=topic, partition=0), record)
    decided = stage.end()
    for rows in decided.rows.values():
        table.update(rows)
    for out in decided.messages:
        assert out.topic == MARKET_REPORTS
        codec.encode(MARKET_REPORTS.record, out.record)
    return [out.record for out in decided.messages]


def test_each_day_counts_its_trades_traders_fees_and_orders_once_even_when_read_again():
    table: dict = {}
    stage = MarketReportsStage(table)
    messages = [(TRADES.name, {"market": "SOL_USDC", "trades": [trade(5, DAY1 + 10),
                                                                trade(6, DAY1 + 3 * HOUR_MS + 20, taker="cy")]}),
                (ORDER_UPDATES.name, {"market": "SOL_USDC", "updates": [update(7, DAY1 + 30, "NEW", first=True),
                                                                        update(8, DAY1 + 40, "CANCELED")]}),
                (TRADES.name, {"market": "SOL_USDC", "trades": [trade(9, DAY2 + 5)]})]
    sent = take(stage, table, *messages)
    assert [(r["day"], r["hour"], r["trades"]) for r in sent] == [
        ("2024-10-04", None, 2), ("2024-10-04", 0, 1), ("2024-10-04", 3, 1), ("2024-10-05", None, 1),
        ("2024-10-05", 0, 1)]
    first = table[row_key("SOL_USDC", "2024-10-04")]
    assert (first["volume"], first["quote_volume"], first["fee_income"], sorted(first["traders"])) == \
        (6, 600, 6, ["ada", "bob", "cy"])
    assert (first["orders_placed"], first["orders_canceled"]) == (1, 1)
    third_hour = table[row_key("SOL_USDC", "2024-10-04", 3)]
    assert (third_hour["volume"], sorted(third_hour["traders"]), third_hour["orders_placed"]) == (3, ["ada", "cy"], 0)
    assert table[row_key("SOL_USDC", "2024-10-04", 0)]["orders_canceled"] == 1
    assert take(MarketReportsStage(table), table, *messages) == []  # a replay after a crash: nothing new
    assert table[row_key("SOL_USDC", "2024-10-04")] == first
