"""Kafka records as Binance's spot stream events, field for field (docs/binance-api.md).

Symbols are Binance's (SOLUSDC), prices and quantities decimal strings in Binance's format (eight
decimals, api/binance/numbers.py), times ms since the epoch. Built once per record and stream,
whatever the number of clients.
"""

from __future__ import annotations

from api.binance.numbers import (
    ZERO,
    atoms_to_amount,
    display,
    signed_atoms_to_amount,
    signed_ticks_to_price,
    steps_to_qty,
    ticks_to_price,
)
from exchange.reference import percent_change, quote_per_base
from schemas.records import Asset, BalanceUpdate, Candle, CommandResult, DepthUpdate, Market, OrderUpdate, Ticker, Trade
from schemas.vocabulary import FILLED, PARTIALLY_FILLED

SIDE = {"buy": "BUY", "sell": "SELL"}


def symbol_of(market: Market) -> str:
    return market["base"] + market["quote"]


def trade(t: Trade, market: Market, now: int) -> dict:
    return {"e": "trade", "E": now, "s": symbol_of(market), "t": t["trade_id"],
            "p": ticks_to_price(market, t["price"]), "q": steps_to_qty(market, t["quantity"]), "T": t["ts"],
            "m": t["taker_side"] == "sell", "M": True}


def agg_trade(t: Trade, market: Market, now: int) -> dict:
    """Every trade is its own aggregate, as in GET /api/v3/aggTrades."""
    return {"e": "aggTrade", "E": now, "s": symbol_of(market), "a": t["trade_id"],
            "p": ticks_to_price(market, t["price"]), "q": steps_to_qty(market, t["quantity"]), "f": t["trade_id"],
            "l": t["trade_id"], "T": t["ts"], "m": t["taker_side"] == "sell", "M": True}


def _levels(market: Market, side) -> list[list[str]]:
    return [[ticks_to_price(market, price), steps_to_qty(market, quantity)] for price, quantity in side]


def depth_update(update: DepthUpdate, market: Market, now: int) -> dict:
    """A diff: U and u are the exchange's update ids, as /api/v3/depth's lastUpdateId."""
    return {"e": "depthUpdate", "E": now, "s": symbol_of(market), "U": update["first_update_id"],
            "u": update["last_update_id"],
            "b": _levels(market, ((lv["price"], lv["quantity"]) for lv in update["bids"])),
            "a": _levels(market, ((lv["price"], lv["quantity"]) for lv in update["asks"]))}


def partial_depth(book, market: Market, levels: int) -> dict:
    """The top of a book (streams/depth_book.py's DepthBook), as the @depth<levels> streams send it."""
    bids = sorted(book.bids.items(), reverse=True)[:levels]
    asks = sorted(book.asks.items())[:levels]
    return {"lastUpdateId": book.last_update_id, "bids": _levels(market, bids), "asks": _levels(market, asks)}


def book_ticker(book, market: Market) -> dict:
    bid = max(book.bids.items(), default=None)
    ask = min(book.asks.items(), default=None)
    return {"u": book.last_update_id, "s": symbol_of(market),
            "b": ticks_to_price(market, bid[0]) if bid else ZERO, "B": steps_to_qty(market, bid[1]) if bid else ZERO,
            "a": ticks_to_price(market, ask[0]) if ask else ZERO, "A": steps_to_qty(market, ask[1]) if ask else ZERO}


def kline(c: Candle, market: Market, quote: Asset, now: int) -> dict:
    return {"e": "kline", "E": now, "s": symbol_of(market), "k": {
        "t": c["open_time"], "T": c["close_time"], "s": symbol_of(market), "i": c["interval"], "f": -1, "L": -1,
        "o": ticks_to_price(market, c["open"]), "c": ticks_to_price(market, c["close"]),
        "h": ticks_to_price(market, c["high"]), "l": ticks_to_price(market, c["low"]),
        "v": steps_to_qty(market, c["volume"]), "n": c["trade_count"], "x": c["closed"],
        "q": atoms_to_amount(quote, c["quote_volume"]), "V": steps_to_qty(market, c.get("taker_buy_volume", 0)),
        "Q": atoms_to_amount(quote, c.get("taker_buy_quote_volume", 0)), "B": "0"}}


def ticker(t: Ticker, market: Market, quote: Asset, now: int) -> dict:
    volume, quote_volume = t["volume"], t["quote_volume"]
    average = ZERO
    if volume:
        average = display(quote_per_base(market, quote, volume, quote_volume))
    return {"e": "24hrTicker", "E": now, "s": symbol_of(market),
            "p": signed_ticks_to_price(market, t["last"] - t["open"]), "P": percent_change(t["open"], t["last"]),
            "w": average, "x": ticks_to_price(market, t["open"]), "c": ticks_to_price(market, t["last"]), "Q": ZERO,
            "b": ZERO, "B": ZERO, "a": ZERO, "A": ZERO,
            "o": ticks_to_price(market, t["open"]), "h": ticks_to_price(market, t["high"]),
            "l": ticks_to_price(market, t["low"]), "v": steps_to_qty(market, volume),
            "q": atoms_to_amount(quote, quote_volume), "O": t["open_time"], "C": t["close_time"],
            "F": t["first_trade_id"], "L": t["last_trade_id"], "n": t["trade_count"]}


def mini_ticker(t: Ticker, market: Market, quote: Asset, now: int) -> dict:
    return {"e": "24hrMiniTicker", "E": now, "s": symbol_of(market), "c": ticks_to_price(market, t["last"]),
            "o": ticks_to_price(market, t["open"]), "h": ticks_to_price(market, t["high"]),
            "l": ticks_to_price(market, t["low"]), "v": steps_to_qty(market, t["volume"]),
            "q": atoms_to_amount(quote, t["quote_volume"])}


EXECUTION_TYPE = {"NEW": "NEW", "PARTIALLY_FILLED": "TRADE", "FILLED": "TRADE", "CANCELED": "CANCELED",
                  "REJECTED": "REJECTED", "EXPIRED": "EXPIRED"}


def execution_reports(u: OrderUpdate, terms: dict, last_filled: tuple[int, int], market: Market, quote: Asset,
                      now: int) -> list[dict]:
    """An order's change, as Binance reports it: one TRADE report per fill (its trade id `t`, price
    `L`, quantity `l` and commission `n`), then the order's new state if that is not a fill's
    (canceled, expired after fills). `terms` are what its first update said (type, price, ...).

    An update written before updates carried their fills gets one report for all it filled:
    `last_filled`, the (quantity, quote) filled as of the order's previous update, gives its l, L, Y."""
    status, fills = u["status"], u.get("fills") or []
    if not fills:
        step_qty, step_quote = u["filled_quantity"] - last_filled[0], u["filled_quote"] - last_filled[1]
        last_price = display(quote_per_base(market, quote, step_qty, step_quote)) if step_qty else ZERO
        return [_report(u, terms, market, quote, now, EXECUTION_TYPE[status], status, u["filled_quantity"],
                        u["filled_quote"], {"l": steps_to_qty(market, step_qty), "L": last_price,
                                            "Y": atoms_to_amount(quote, step_quote)})]
    filled = u["filled_quantity"] - sum(f["quantity"] for f in fills)
    filled_quote = u["filled_quote"] - sum(f["quote"] for f in fills)
    reports = []
    for n, fill in enumerate(fills, 1):
        filled, filled_quote = filled + fill["quantity"], filled_quote + fill["quote"]
        state = status if n == len(fills) and status in (PARTIALLY_FILLED, FILLED) else PARTIALLY_FILLED
        reports.append(_report(u, terms, market, quote, now, "TRADE", state, filled, filled_quote, {
            "l": steps_to_qty(market, fill["quantity"]), "L": ticks_to_price(market, fill["price"]),
            "Y": atoms_to_amount(quote, fill["quote"]), "n": atoms_to_amount(quote, fill["fee"]),
            "N": market["quote"], "t": fill["trade_id"], "m": fill["maker"]}))
    if status not in (PARTIALLY_FILLED, FILLED):
        reports.append(_report(u, terms, market, quote, now, EXECUTION_TYPE[status], status, filled, filled_quote,
                               {}))
    return reports


def _report(u: OrderUpdate, terms: dict, market: Market, quote: Asset, now: int, execution: str, status: str,
            filled: int, filled_quote: int, fill: dict) -> dict:
    price, quantity, funds = terms.get("price"), terms.get("quantity"), terms.get("quote_quantity")
    order_type = "MARKET" if terms.get("type") == "market" else ("LIMIT_MAKER" if terms.get("post_only") else "LIMIT")
    client_id = terms.get("client_order_id") or f"auto-{u['order_id']}"
    created = terms.get("created_ts") or u["ts"]
    return {"e": "executionReport", "E": now, "s": symbol_of(market), "c": client_id, "S": SIDE[u["side"]],
            "o": order_type, "f": terms.get("time_in_force") or "GTC",
            "q": steps_to_qty(market, quantity) if quantity else ZERO,
            "p": ticks_to_price(market, price) if price else ZERO, "P": ZERO, "F": ZERO, "g": -1, "C": "",
            "x": execution, "X": status, "r": (u.get("reason") or "NONE") if status == "REJECTED" else "NONE",
            "i": u["order_id"], "l": ZERO, "z": steps_to_qty(market, filled), "L": ZERO, "n": ZERO, "N": None,
            "T": u["ts"], "t": -1, "I": u["seq"], "w": status in ("NEW", PARTIALLY_FILLED), "m": False, "M": False,
            "O": created, "Z": atoms_to_amount(quote, filled_quote), "Y": ZERO,
            "Q": atoms_to_amount(quote, funds) if funds else ZERO, "W": created, "V": "EXPIRE_TAKER", **fill}


def account_position(b: BalanceUpdate, assets: dict[str, Asset], now: int) -> dict:
    return {"e": "outboundAccountPosition", "E": now, "u": b["ts"],
            "B": [{"a": x["asset"], "f": atoms_to_amount(assets[x["asset"]], x["available"]),
                   "l": atoms_to_amount(assets[x["asset"]], x["held"])}
                  for x in b["balances"] if x["asset"] in assets]}


def balance_change(result: CommandResult, assets: dict[str, Asset], now: int) -> dict | None:
    """A deposit or a withdrawal's request as Binance's balanceUpdate (the delta); None otherwise."""
    asset = assets.get(result.get("asset") or "")
    if not result["accepted"] or asset is None or result.get("kind") not in ("Deposit", "Withdraw"):
        return None
    amount = result["amount"] or 0
    delta = amount if result["kind"] == "Deposit" else -amount
    return {"e": "balanceUpdate", "E": now, "a": asset["symbol"], "d": signed_atoms_to_amount(asset, delta),
            "T": result["ts"]}
