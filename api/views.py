"""Turning integer rows into what users read: decimal strings, snake_case, times in ms."""

from __future__ import annotations

from exchange.reference import ppm_to_fee, signed_atoms_to_amount, steps_to_qty, ticks_to_price
from schemas.vocabulary import WITH_REASON

amount = signed_atoms_to_amount


def field(row, name: str):
    """A field of an orders table row or of a record (a dict) alike; None if it has none."""
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def order(row, markets: dict, assets: dict) -> dict:
    """An order from an orders table row or an exchange.OrderUpdate (the conventions' shape)."""
    market = markets[field(row, "market")]
    quote = assets[market["quote"]]
    price, quantity, quote_quantity = field(row, "price"), field(row, "quantity"), field(row, "quote_quantity")
    return {
        "order_id": str(field(row, "order_id")),
        "client_order_id": field(row, "client_order_id"),
        "market": market["symbol"],
        "side": field(row, "side"),
        "type": field(row, "type"),
        "time_in_force": field(row, "time_in_force"),
        "post_only": bool(field(row, "post_only")),
        "price": None if price is None else ticks_to_price(market, price),
        "quantity": None if quantity is None else steps_to_qty(market, quantity),
        "quote_quantity": None if quote_quantity is None else amount(quote, quote_quantity),
        "filled_quantity": steps_to_qty(market, field(row, "filled_quantity") or 0),
        "filled_quote": amount(quote, field(row, "filled_quote") or 0),
        "status": field(row, "status"),
        "reject_reason": field(row, "reason") if field(row, "status") in WITH_REASON else None,
        "created_at": field(row, "created_ts"),
        "updated_at": field(row, "updated_ts") or field(row, "ts"),
    }


def public_trade(row, market: dict, assets: dict) -> dict:
    return {"trade_id": str(row.trade_id), "market": row.market, "price": ticks_to_price(market, row.price),
            "quantity": steps_to_qty(market, row.quantity),
            "quote_quantity": amount(assets[market["quote"]], row.quote), "taker_side": row.taker_side,
            "time": row.ts}


def my_trade(row, market: dict, assets: dict) -> dict:
    quote = assets[market["quote"]]
    return {"trade_id": str(row.trade_id), "market": row.market, "price": ticks_to_price(market, row.price),
            "quantity": steps_to_qty(market, row.quantity), "quote_quantity": amount(quote, row.quote),
            "time": row.ts, "order_id": str(row.order_id), "side": row.side, "role": row.role,
            "fee": amount(quote, row.fee), "fee_asset": market["quote"]}


def market_view(market: dict, assets: dict) -> dict:
    return {"symbol": market["symbol"], "base": market["base"], "quote": market["quote"], "tick": market["tick"],
            "step": market["step"], "min_notional": amount(assets[market["quote"]], market["min_notional"]),
            "maker_fee": ppm_to_fee(market["maker_fee_ppm"]), "taker_fee": ppm_to_fee(market["taker_fee_ppm"]),
            "status": market["status"]}
