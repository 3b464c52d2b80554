"""Binance's executionReport from the exchange's order updates: a report per fill, with its trade
id and commission, as clients that build their trades from user data (ccxt.pro) need."""

from __future__ import annotations

from decimal import Decimal

from exchange.reference import make_asset, make_market
from ws.binance_payloads import execution_reports

USDC = make_asset("USDC", 6, 0)
MARKET = make_market("SOL_USDC", make_asset("SOL", 9, 0), USDC, tick="0.01", step="0.001", maker_fee="0.001",
                     taker_fee="0.002", partition=0, ts=0)
TERMS = {"type": "limit", "time_in_force": "IOC", "price": 15100, "quantity": 3000, "created_ts": 5}


def update(status: str, filled: int, filled_quote: int, fills: list[dict] | None = None) -> dict:
    return {"seq": 9, "order_id": 77, "account": "a", "market": "SOL_USDC", "side": "buy", "status": status,
            "filled_quantity": filled, "filled_quote": filled_quote, "remaining_quantity": 0, "reason": None,
            "ts": 10, "fills": fills or []}


def test_an_ioc_meeting_two_makers_reports_each_fill_then_its_expiry():
    fills = [{"trade_id": 4, "price": 15000, "quantity": 1000, "quote": 150_000_000, "fee": 300_000, "maker": False},
             {"trade_id": 5, "price": 15100, "quantity": 500, "quote": 75_500_000, "fee": 151_000, "maker": False}]
    reports = execution_reports(update("EXPIRED", 1500, 225_500_000, fills), TERMS, (0, 0), MARKET, USDC, 11)
    assert [(r["x"], r["X"], r["t"]) for r in reports] == [("TRADE", "PARTIALLY_FILLED", 4),
                                                           ("TRADE", "PARTIALLY_FILLED", 5), ("EXPIRED", "EXPIRED", -1)]
    assert [(r["l"], r["L"], r["n"], r["N"]) for r in reports[:2]] == [
        ("1.00000000", "150.00000000", "0.30000000", "USDC"), ("0.50000000", "151.00000000", "0.15100000", "USDC")]
    assert [r["z"] for r in reports] == ["1.00000000", "1.50000000", "1.50000000"]
    assert Decimal(reports[-1]["Z"]) == Decimal("225.5") and reports[-1]["l"] == "0.00000000"


def test_the_last_fill_of_a_filled_order_says_filled():
    fills = [{"trade_id": 8, "price": 15000, "quantity": 3000, "quote": 450_000_000, "fee": 450_000, "maker": True}]
    [report] = execution_reports(update("FILLED", 3000, 450_000_000, fills), TERMS, (0, 0), MARKET, USDC, 11)
    assert (report["x"], report["X"], report["t"], report["m"], report["w"]) == ("TRADE", "FILLED", 8, True, False)


def test_an_update_written_before_fills_were_carried_reports_what_it_filled_at_once():
    old = update("FILLED", 3000, 450_000_000)
    del old["fills"]
    [report] = execution_reports(old, TERMS, (1000, 150_000_000), MARKET, USDC, 11)
    assert (report["x"], report["l"], report["L"], report["t"]) == ("TRADE", "2.00000000", "150.00000000", -1)
