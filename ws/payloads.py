"""Kafka records as the Binance-style payloads clients already parse (notes/api-conventions.md).

Prices and quantities become decimal strings on the market's grid; times are ms since the epoch.
"""

from __future__ import annotations

from decimal import Decimal

from exchange.reference import percent_change, quote_per_base, signed_ticks_to_price, steps_to_qty, ticks_to_price
from exchange.reference import signed_atoms_to_amount as _amount
from schemas.records import (
    Asset,
    BalanceUpdate,
    Candle,
    CommandResult,
    DepthUpdate,
    Market,
    Notification,
    OrderUpdate,
    Ticker,
    Trade,
)


def trade(t: Trade, market: Market, now: int) -> dict:
    return {"e": "trade", "E": now, "s": market["symbol"], "t": t["trade_id"],
            "p": ticks_to_price(market, t["price"]), "q": steps_to_qty(market, t["quantity"]), "T": t["ts"],
            "m": t["taker_side"] == "sell"}  # the buyer was the maker when the taker sold


def depth(update: DepthUpdate, market: Market, now: int) -> dict:
    def levels(side: list[dict]) -> list[list[str]]:
        return [[ticks_to_price(market, lv["price"]), steps_to_qty(market, lv["quantity"])] for lv in side]

    return {"e": "depthUpdate", "E": now, "s": market["symbol"], "U": update["first_update_id"],
            "u": update["last_update_id"], "b": levels(update["bids"]), "a": levels(update["asks"])}


def ticker(t: Ticker, market: Market, quote: Asset, now: int) -> dict:
    return {"e": "24hrTicker", "E": now, "s": market["symbol"],
            "p": signed_ticks_to_price(market, t["last"] - t["open"]), "P": percent_change(t["open"], t["last"]),
            "c": ticks_to_price(market, t["last"]), "o": ticks_to_price(market, t["open"]),
            "h": ticks_to_price(market, t["high"]), "l": ticks_to_price(market, t["low"]),
            "v": steps_to_qty(market, t["volume"]), "q": _amount(quote, t["quote_volume"]), "n": t["trade_count"]}


def kline(c: Candle, market: Market, now: int) -> dict:
    return {"e": "kline", "E": now, "s": market["symbol"], "k": {
        "t": c["open_time"], "T": c["close_time"], "i": c["interval"], "o": ticks_to_price(market, c["open"]),
        "c": ticks_to_price(market, c["close"]), "h": ticks_to_price(market, c["high"]),
        "l": ticks_to_price(market, c["low"]), "v": steps_to_qty(market, c["volume"]), "n": c["trade_count"],
        "x": c["closed"]}}


def order_update(u: OrderUpdate, market: Market, quote: Asset, now: int) -> dict:
    filled, filled_quote = u["filled_quantity"], u["filled_quote"]
    average = None
    if filled:  # quote per base unit, to 12 places: a display value, never used for money
        average = f"{quote_per_base(market, quote, filled, filled_quote).quantize(Decimal('1e-12')):f}"
        average = average.rstrip("0").rstrip(".")
    return {"e": "orderUpdate", "E": now, "s": market["symbol"], "i": str(u["order_id"]), "S": u["side"],
            "X": u["status"], "z": steps_to_qty(market, filled), "Z": _amount(quote, filled_quote),
            "r": u.get("reason"), "T": u["ts"], "ap": average}


def notification(n: Notification) -> dict:
    """The REST API's view of a notification (api/notifications.py), unread as it comes."""
    return {"e": "notification", "id": n["id"], "kind": n["kind"], "time": n["ts"], "text": n["text"],
            "order_id": None if n["order_id"] is None else str(n["order_id"]), "market": n["market"],
            "asset": n["asset"], "reference": n["reference"]}


def balance_update(b: BalanceUpdate, assets: dict[str, Asset], now: int) -> dict:
    return {"e": "balanceUpdate", "E": now,
            "B": [{"a": x["asset"], "f": _amount(assets[x["asset"]], x["available"]),
                   "l": _amount(assets[x["asset"]], x["held"])} for x in b["balances"] if x["asset"] in assets]}


def withdrawal(result: CommandResult, assets: dict[str, Asset], now: int) -> dict | None:
    """A withdrawal's change from the accounts stage's answer: requested (funds held, or refused
    with a reason) or settled by an operator. None for what is not a withdrawal or changed nothing
    (a settlement refused as already settled)."""
    kind = result.get("kind")
    asset = assets.get(result.get("asset"))
    if kind not in ("Withdraw", "SettleWithdrawal") or asset is None:
        return None
    if kind == "Withdraw":
        status = "processing" if result["accepted"] else "rejected"
        withdrawal_id, extra = result["command_id"], {"address": result.get("reference")}
    elif result["accepted"]:
        status = "completed" if result["completed"] else "failed"
        withdrawal_id, extra = result["withdrawal_id"], {"ref": result.get("reference")}
    else:
        return None
    return {"e": "withdrawalUpdate", "E": now, "i": withdrawal_id, "a": asset["symbol"],
            "q": _amount(asset, result["amount"]), "X": status, "r": result.get("reason"), "T": result["ts"], **extra}
