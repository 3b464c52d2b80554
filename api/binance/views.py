"""The exchange's rows and records in Binance's shapes: symbols without the underscore, decimal
strings, times in ms, statuses, sides and types in capitals."""

from __future__ import annotations

from schemas.vocabulary import EXPIRED, REJECTED
from streams.engine.events import SELF_TRADE

from ..views import field
from . import errors
from .numbers import ZERO, atoms_to_amount, steps_to_qty, ticks_to_price

SIDE = {"buy": "BUY", "sell": "SELL"}
STP = {"expire_taker": "EXPIRE_TAKER", "expire_maker": "EXPIRE_MAKER", "expire_both": "EXPIRE_BOTH"}
AUTO_CLIENT_ID = "auto-"  # clientOrderId of an order placed without one: auto-<orderId>


def symbol_of(market: dict) -> str:
    return market["base"] + market["quote"]


def market_of(markets: dict, symbol: str | None) -> dict:
    """The market a Binance symbol (SOLUSDC, any case) names; -1121 if none."""
    if not symbol:
        raise errors.mandatory("symbol")
    wanted = symbol.upper()
    for market in markets.values():
        if symbol_of(market) == wanted:
            return market
    raise errors.invalid_symbol()


def order_type(row) -> str:
    if field(row, "type") == "market":
        return "MARKET"
    return "LIMIT_MAKER" if field(row, "post_only") else "LIMIT"


def status(row) -> str:
    value = field(row, "status")
    if value == EXPIRED and field(row, "reason") == SELF_TRADE:
        return "EXPIRED_IN_MATCH"
    return value


def client_order_id(row) -> str:
    return field(row, "client_order_id") or f"{AUTO_CLIENT_ID}{field(row, 'order_id')}"


def order(row, market: dict, quote: dict) -> dict:
    """An order (orders table row or OrderUpdate merged with its terms) as GET /api/v3/order shows it."""
    price, quantity, funds = field(row, "price"), field(row, "quantity"), field(row, "quote_quantity")
    created = field(row, "created_ts") or field(row, "ts")
    updated = field(row, "updated_ts") or field(row, "ts") or created
    return {
        "symbol": symbol_of(market), "orderId": field(row, "order_id"), "orderListId": -1,
        "clientOrderId": client_order_id(row),
        "price": ticks_to_price(market, price) if price else ZERO,
        "origQty": steps_to_qty(market, quantity) if quantity else ZERO,
        "executedQty": steps_to_qty(market, field(row, "filled_quantity") or 0),
        "cummulativeQuoteQty": atoms_to_amount(quote, field(row, "filled_quote") or 0),
        "status": status(row),
        "timeInForce": field(row, "time_in_force") or "GTC",
        "type": order_type(row), "side": SIDE[field(row, "side")],
        "stopPrice": ZERO, "icebergQty": ZERO,
        "time": created, "updateTime": updated,
        "isWorking": status(row) not in (REJECTED,),
        "workingTime": created,
        "origQuoteOrderQty": atoms_to_amount(quote, funds) if funds else ZERO,
        "selfTradePreventionMode": "EXPIRE_TAKER",
    }


def placed(view: dict, response_type: str, fills: list[dict]) -> dict:
    """POST /api/v3/order's answer, in the asked-for detail (ACK, RESULT or FULL)."""
    ack = {"symbol": view["symbol"], "orderId": view["orderId"], "orderListId": -1,
           "clientOrderId": view["clientOrderId"], "transactTime": view["updateTime"]}
    if response_type == "ACK":
        return ack
    result = {**ack, **{k: view[k] for k in ("price", "origQty", "executedQty", "origQuoteOrderQty",
                                              "cummulativeQuoteQty", "status", "timeInForce", "type", "side",
                                              "workingTime", "selfTradePreventionMode")}}
    if response_type == "RESULT":
        return result
    return {**result, "fills": fills}


def fill(row, market: dict, quote: dict) -> dict:
    return {"price": ticks_to_price(market, row.price), "qty": steps_to_qty(market, row.quantity),
            "commission": atoms_to_amount(quote, row.fee), "commissionAsset": market["quote"],
            "tradeId": row.trade_id}


def my_trade(row, market: dict, quote: dict) -> dict:
    return {"symbol": symbol_of(market), "id": row.trade_id, "orderId": row.order_id, "orderListId": -1,
            "price": ticks_to_price(market, row.price), "qty": steps_to_qty(market, row.quantity),
            "quoteQty": atoms_to_amount(quote, row.quote), "commission": atoms_to_amount(quote, row.fee),
            "commissionAsset": market["quote"], "time": row.ts, "isBuyer": row.side == "buy",
            "isMaker": row.role == "maker", "isBestMatch": True}


def public_trade(row, market: dict, quote: dict) -> dict:
    return {"id": row.trade_id, "price": ticks_to_price(market, row.price), "qty": steps_to_qty(market, row.quantity),
            "quoteQty": atoms_to_amount(quote, row.quote), "time": row.ts, "isBuyerMaker": row.taker_side == "sell",
            "isBestMatch": True}


def agg_trade(row, market: dict) -> dict:
    """Every trade is its own aggregate: trades are not merged here."""
    return {"a": row.trade_id, "p": ticks_to_price(market, row.price), "q": steps_to_qty(market, row.quantity),
            "f": row.trade_id, "l": row.trade_id, "T": row.ts, "m": row.taker_side == "sell", "M": True}


def page(rows: list, size: int, from_oldest: bool) -> list:
    """Rows sorted oldest first, cut to `size` as Binance pages: the oldest when the request names
    where to start (fromId, orderId, startTime), else the newest."""
    return rows[:size] if from_oldest else rows[-size:]


def kline(row, market: dict, quote: dict) -> list:
    """A candles row as Binance's kline array; a candle recorded before the taker-buy volumes were
    kept has them null (0)."""
    return [row.open_time, ticks_to_price(market, row.open), ticks_to_price(market, row.high),
            ticks_to_price(market, row.low), ticks_to_price(market, row.close), steps_to_qty(market, row.volume),
            row.close_time, atoms_to_amount(quote, row.quote_volume), row.trade_count,
            steps_to_qty(market, row.taker_buy_volume or 0), atoms_to_amount(quote, row.taker_buy_quote_volume or 0),
            "0"]
