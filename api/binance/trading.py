"""Binance's signed trading endpoints: order (new, test, query, cancel), openOrders, allOrders,
account and myTrades, on the exchange's own order flow (api/orders.py's `submit`)."""

from __future__ import annotations

import asyncio
import re

from starlette.requests import Request

from exchange.commands import cancel, now_ms
from exchange.order_rules import below_min_notional, breach, notional
from exchange.reference import (
    DefinitionError,
    amount_to_atoms,
    atoms_to_amount,
    ppm_to_fee,
    price_to_ticks,
    qty_to_steps,
)
from schemas.codec import codec
from schemas.vocabulary import BELOW_MIN_NOTIONAL, INSUFFICIENT_FUNDS, MARKET_HALTED, OPEN_STATUSES, REJECTED
from streams.engine.events import POST_ONLY_WOULD_TRADE

from ..ids import EPOCH_MS
from ..inputs import CLIENT_ORDER_ID
from ..orders import send_and_wait, submit
from ..responses import JSONResponse
from . import errors, views
from .params import Params, signed

DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER")
ELSEWHERE_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
STP_MODES = {"EXPIRE_TAKER": "expire_taker", "EXPIRE_MAKER": "expire_maker", "EXPIRE_BOTH": "expire_both"}
# A market buy by quantity holds what walking the book's asks would cost, this much more (the book
# may move before it fills), and never more than the account has.
MARKET_BUY_MARGIN = (11, 10)
FILLS_WAIT_S = 2.0  # how long a FULL answer waits for the read side to have the order's fills
# An order placed this recently may not be on the read side yet: a query for it waits this long
# before saying it does not exist (order ids carry their time, api/ids.py).
RECENT_MS = 10_000
READ_SIDE_WAIT_S = 2.0
UNSUPPORTED = errors.BinanceError(400, -1014, "Unsupported order combination.")


def _feeds(request: Request):
    return request.app.state.feeds


def _decimal(params: Params, name: str, convert, filter_name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if not DECIMAL.fullmatch(text):
        raise errors.bad_value(name, "a positive decimal number is expected")
    try:
        value = convert(text)
    except DefinitionError:
        raise errors.filter_failure(filter_name) from None
    if value <= 0:
        raise errors.filter_failure(filter_name)
    return value


class Order:
    """A new order's parameters, checked as Binance checks them, in the exchange's units."""

    def __init__(self, params: Params, markets: dict, assets: dict) -> None:
        self.market = views.market_of(markets, params.get("symbol"))
        market, quote = self.market, assets[self.market["quote"]]
        self.quote = quote
        self.side = params.choice("side", ("BUY", "SELL"), errors.invalid_side()) or _missing("side")
        kind = params.get("type")
        if kind is None:
            raise errors.mandatory("type")
        if kind in ELSEWHERE_TYPES:
            raise UNSUPPORTED
        if kind not in TYPES:
            raise errors.invalid_order_type()
        self.kind = kind
        tif = params.choice("timeInForce", ("GTC", "IOC", "FOK"), errors.invalid_tif())
        self.price = _decimal(params, "price", lambda text: price_to_ticks(market, text), "PRICE_FILTER")
        self.quantity = _decimal(params, "quantity", lambda text: qty_to_steps(market, text), "LOT_SIZE")
        self.funds = _decimal(params, "quoteOrderQty", lambda text: amount_to_atoms(quote, text), "NOTIONAL")
        client_order_id = params.get("newClientOrderId")
        if client_order_id is not None and (not CLIENT_ORDER_ID.fullmatch(client_order_id)
                                            or client_order_id.startswith(views.AUTO_CLIENT_ID)):
            raise errors.bad_value("newClientOrderId", "1 to 36 of A-Z a-z 0-9 _ . : -, not starting with auto-")
        self.client_order_id = client_order_id
        self.response_type = params.choice("newOrderRespType", ("ACK", "RESULT", "FULL"),
                                           default="FULL" if kind in ("LIMIT", "MARKET") else "ACK")
        stp = params.get("selfTradePreventionMode")
        if stp not in (None, *STP_MODES):
            raise errors.bad_value("selfTradePreventionMode",
                                   "EXPIRE_TAKER, EXPIRE_MAKER or EXPIRE_BOTH (self-trades are always prevented)")
        self.stp = STP_MODES[stp or "EXPIRE_TAKER"]
        for name in ("stopPrice", "trailingDelta", "icebergQty"):
            if params.get(name) not in (None, "0"):
                raise UNSUPPORTED
        params.get("strategyId")
        params.get("strategyType")
        params.done()
        self.time_in_force, self.post_only = self._terms(tif)

    def _terms(self, tif: str | None) -> tuple[str, bool]:
        kind = self.kind
        if kind == "LIMIT":
            for name, value in (("timeInForce", tif), ("quantity", self.quantity), ("price", self.price)):
                if value is None:
                    raise errors.mandatory(name)
            if self.funds is not None:
                raise errors.not_required("quoteOrderQty")
            return tif, False
        if kind == "LIMIT_MAKER":
            if tif is not None:
                raise errors.not_required("timeInForce")
            for name, value in (("quantity", self.quantity), ("price", self.price)):
                if value is None:
                    raise errors.mandatory(name)
            if self.funds is not None:
                raise errors.not_required("quoteOrderQty")
            return "GTC", True
        if self.price is not None:
            raise errors.not_required("price")
        if tif is not None:
            raise errors.not_required("timeInForce")
        if (self.quantity is None) == (self.funds is None):
            raise errors.BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                                  "but both were empty or both were sent.")
        if self.side == "SELL" and self.funds is not None:
            raise UNSUPPORTED  # a market sell here is sized by its quantity
        return "IOC", False

    def check(self) -> None:
        """What the accounts stage would refuse for the order itself, refused here with Binance's codes."""
        if self.market["status"] != "open":
            raise errors.order_rejected("Market is closed.")
        side = self.side.lower()
        kind = "market" if self.kind == "MARKET" else "limit"
        funds = self.funds if side == "buy" else None
        if kind == "market" and side == "buy" and funds is None:
            funds = 1  # sized when sent (see market_buy_funds); the rules only ask that it is there
        broken = breach(kind, side, self.price, self.quantity, funds, self.post_only, self.time_in_force)
        if broken is not None:
            raise errors.BinanceError(400, -1013, broken.message)
        if below_min_notional(self.market, self.price, self.quantity):
            raise errors.filter_failure("NOTIONAL")


def _missing(name: str):
    raise errors.mandatory(name)


async def _market_buy_funds(request: Request, owner: str, order: Order) -> int:
    """The most a market buy by quantity may spend: the asks it would walk, with a margin, within
    what the account has available."""
    store, market = request.app.state.store, order.market
    available = 0
    for row in await store.rows("balances", owner):
        if row.asset == market["quote"]:
            available = row.available
    row = await store.one("depth", market["symbol"])
    cost, left = 0, order.quantity or 0
    if row is not None:
        for level in codec.decode_as("exchange.DepthSnapshot", row.snapshot)["asks"]:
            take = min(left, level["quantity"])
            cost += notional(market, level["price"], take)
            left -= take
            if not left:
                break
    if left or not cost:
        return max(available, 1)
    fee = cost * market["taker_fee_ppm"] // 1_000_000 + 1
    return max(1, min(available, (cost + fee) * MARKET_BUY_MARGIN[0] // MARKET_BUY_MARGIN[1]))


async def new_order(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    request.app.state.binance_limits.new_order(owner)
    feeds = _feeds(request)
    order = Order(params, feeds.markets, feeds.assets)
    order.check()
    funds = order.funds
    if order.kind == "MARKET" and order.side == "BUY" and funds is None:
        funds = await _market_buy_funds(request, owner, order)
    placed = await submit(request, owner, order.market, order.side.lower(), order.price, order.quantity,
                          type="market" if order.kind == "MARKET" else "limit", time_in_force=order.time_in_force,
                          post_only=order.post_only, quote_quantity=funds, client_order_id=order.client_order_id,
                          stp=order.stp)
    if placed.first_order_id is not None:
        raise errors.order_rejected("Duplicate order sent.")
    if placed.outcome is None:
        raise errors.BinanceError(503, -1007, "Timeout waiting for response from backend server. Send status "
                                              "unknown; execution status unknown.")
    kind_of, record = placed.outcome
    if kind_of == "result":
        raise _refusal(record["reason"])
    if record["status"] == REJECTED:
        if record.get("reason") == POST_ONLY_WOULD_TRADE:
            raise errors.order_rejected("Order would immediately match and take.")
        raise errors.order_rejected(f"Order rejected: {record.get('reason')}.")
    command = placed.command
    merged = {**record, "type": "market" if order.kind == "MARKET" else "limit",
              "time_in_force": order.time_in_force, "post_only": order.post_only, "price": order.price,
              "quantity": order.quantity, "quote_quantity": order.funds, "client_order_id": order.client_order_id,
              "created_ts": command["ts"] if command else record["ts"], "updated_ts": record["ts"]}
    view = views.order(merged, order.market, order.quote)
    fills = []
    if order.response_type == "FULL" and record.get("filled_quantity"):
        fills = await _fills(request, owner, placed.order_id, record["filled_quantity"], order)
    return JSONResponse(views.placed(view, order.response_type, fills))


def _refusal(reason: str) -> errors.BinanceError:
    if reason == INSUFFICIENT_FUNDS:
        return errors.order_rejected(errors.INSUFFICIENT_BALANCE)
    if reason == MARKET_HALTED:
        return errors.order_rejected("Market is closed.")
    if reason == BELOW_MIN_NOTIONAL:
        return errors.filter_failure("NOTIONAL")
    return errors.order_rejected(f"Order rejected: {reason}.")


async def _fills(request: Request, owner: str, order_id: int, filled: int, order: Order) -> list[dict]:
    """The order's fills, once the read side has them all (or what it has after FILLS_WAIT_S)."""
    deadline = asyncio.get_running_loop().time() + FILLS_WAIT_S
    while True:
        rows = [row for row in await request.app.state.store.rows("my_trades", owner, now_ms() + 60_000, 200)
                if row.order_id == order_id]
        if sum(row.quantity for row in rows) >= filled or asyncio.get_running_loop().time() > deadline:
            rows.sort(key=lambda row: row.trade_id)
            return [views.fill(row, order.market, order.quote) for row in rows]
        await asyncio.sleep(0.05)


async def test_order(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    commission = params.get("computeCommissionRates") == "true"
    feeds = _feeds(request)
    order = Order(params, feeds.markets, feeds.assets)
    order.check()
    if not commission:
        return JSONResponse({})
    maker, taker = order.market["maker_fee_ppm"], order.market["taker_fee_ppm"]
    return JSONResponse({"standardCommissionForOrder": {"maker": ppm_to_fee(maker), "taker": ppm_to_fee(taker)},
                         "specialCommissionForOrder": {"maker": "0", "taker": "0"},
                         "taxCommissionForOrder": {"maker": "0", "taker": "0"},
                         "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": None,
                                      "discount": "0"}})


async def _find(request: Request, owner: str, params: Params, market: dict):
    """The order `orderId` or `origClientOrderId` names, if it is this account's in this market."""
    order_id = params.integer("orderId", None, 0)
    client_id = params.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise errors.BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both "
                                              "were empty/null!")
    store = request.app.state.store
    if order_id is None:
        if client_id.startswith(views.AUTO_CLIENT_ID) and client_id[len(views.AUTO_CLIENT_ID):].isdigit():
            order_id = int(client_id[len(views.AUTO_CLIENT_ID):])
        else:
            found = (await store.one("order_by_client_id", owner, client_id)
                     or await store.one("client_order_claim", owner, client_id))
            if found is None:
                return None
            order_id = found.order_id
    row = await store.one("order", order_id)
    deadline = asyncio.get_running_loop().time() + READ_SIDE_WAIT_S
    while row is None and _recent(order_id) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)  # placed moments ago: the read side is writing it
        row = await store.one("order", order_id)
    if row is None or row.account != owner or row.market != market["symbol"]:
        return None
    if client_id is not None and views.client_order_id(row) != client_id:
        return None
    return row


def _recent(order_id: int) -> bool:
    return 0 <= now_ms() - (EPOCH_MS + (order_id >> 22)) <= RECENT_MS


async def query_order(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    feeds = _feeds(request)
    market = views.market_of(feeds.markets, params.get("symbol"))
    row = await _find(request, owner, params, market)
    params.done()
    if row is None:
        raise errors.no_such_order()
    return JSONResponse(views.order(row, market, feeds.assets[market["quote"]]))


async def _cancel(request: Request, owner: str, row, market: dict) -> dict:
    quote = _feeds(request).assets[market["quote"]]
    if row.status not in OPEN_STATUSES:
        raise errors.cancel_rejected()
    outcome = await send_and_wait(request, cancel(owner, row.order_id, row.market), row.order_id)
    if outcome is None:
        raise errors.BinanceError(503, -1007, "Timeout waiting for response from backend server. Send status "
                                              "unknown; execution status unknown.")
    kind_of, record = outcome
    if kind_of == "result" or record.get("status") not in ("CANCELED", "EXPIRED", "FILLED"):
        raise errors.cancel_rejected()
    merged = {**{k: getattr(row, k) for k in row._fields}, **record, "updated_ts": record["ts"]}
    view = views.order(merged, market, quote)
    return {**view, "origClientOrderId": view["clientOrderId"], "transactTime": record["ts"]}


async def cancel_order(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    market = views.market_of(_feeds(request).markets, params.get("symbol"))
    row = await _find(request, owner, params, market)
    params.get("newClientOrderId")
    params.get("cancelRestrictions")
    params.done()
    if row is None:
        raise errors.cancel_rejected()
    return JSONResponse(await _cancel(request, owner, row, market))


async def _open_rows(request: Request, owner: str, market: dict | None) -> list:
    store = request.app.state.store
    listed = await (store.rows("open_orders_in", owner, market["symbol"]) if market is not None
                    else store.rows("open_orders", owner))
    rows = await asyncio.gather(*(store.one("order", r.order_id) for r in listed))
    return sorted((row for row in rows if row is not None and row.status in OPEN_STATUSES),
                  key=lambda row: row.order_id)


async def open_orders(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    feeds = _feeds(request)
    symbol = params.get("symbol")
    market = views.market_of(feeds.markets, symbol) if symbol is not None else None
    params.done()
    return JSONResponse([views.order(row, feeds.markets[row.market], feeds.assets[feeds.markets[row.market]["quote"]])
                         for row in await _open_rows(request, owner, market) if row.market in feeds.markets])


async def cancel_open_orders(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    market = views.market_of(_feeds(request).markets, params.get("symbol"))
    params.done()
    rows = await _open_rows(request, owner, market)
    if not rows:
        raise errors.cancel_rejected()
    results = await asyncio.gather(*(_cancel(request, owner, row, market) for row in rows), return_exceptions=True)
    return JSONResponse([result for result in results if isinstance(result, dict)])


async def all_orders(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    feeds = _feeds(request)
    market = views.market_of(feeds.markets, params.get("symbol"))
    from_id = params.integer("orderId", None, 0)
    start, end = params.integer("startTime", None, 0), params.integer("endTime", None, 0)
    size = params.integer("limit", 500, 1, 1000)
    params.done()
    store, rows, before = request.app.state.store, [], 2**63 - 1
    while True:  # newest first, a page at a time, until past what is asked for
        page = await store.rows("orders", owner, before, 500)
        for row in page:
            created = row.created_ts or 0
            if row.market == market["symbol"] and (from_id is None or row.order_id >= from_id) \
                    and (start is None or created >= start) and (end is None or created <= end):
                rows.append(row)
        if len(page) < 500 or (from_id is not None and page[-1].order_id < from_id) \
                or (start is not None and (page[-1].created_ts or 0) < start) or (from_id is None and start is None
                                                                                and len(rows) >= size):
            break
        before = page[-1].order_id
    rows.sort(key=lambda row: row.order_id)
    rows = rows[:size] if (from_id is not None or start is not None) else rows[-size:]
    quote = feeds.assets[market["quote"]]
    return JSONResponse([views.order(row, market, quote) for row in rows])


async def account(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    omit_zero = params.get("omitZeroBalances") == "true"
    params.done()
    assets = _feeds(request).assets
    balances = []
    for row in await request.app.state.store.rows("balances", owner):
        asset = assets.get(row.asset)
        if asset is None or (omit_zero and not row.available and not row.held):
            continue
        balances.append({"asset": row.asset, "free": atoms_to_amount(asset, row.available),
                         "locked": atoms_to_amount(asset, row.held)})
    return JSONResponse({
        "makerCommission": 0, "takerCommission": 0, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": "0", "taker": "0", "buyer": "0", "seller": "0"},
        "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
        "requireSelfTradePrevention": True, "preventSor": True, "updateTime": now_ms(), "accountType": "SPOT",
        "balances": balances, "permissions": ["SPOT"], "uid": 0})


async def my_trades(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    feeds = _feeds(request)
    market = views.market_of(feeds.markets, params.get("symbol"))
    order_id = params.integer("orderId", None, 0)
    from_id = params.integer("fromId", None, 0)
    start, end = params.integer("startTime", None, 0), params.integer("endTime", None, 0)
    size = params.integer("limit", 500, 1, 1000)
    params.done()
    if start is not None and end is not None and end - start > 86_400_000:
        raise errors.BinanceError(400, -1127, "More than 24 hours between startTime and endTime.")
    def wanted(row) -> bool:
        return (row.market == market["symbol"] and (order_id is None or row.order_id == order_id)
                and (from_id is None or row.trade_id >= from_id) and (start is None or row.ts >= start)
                and (end is None or row.ts <= end))

    store, seen, found = request.app.state.store, set(), {}
    before = end if end is not None else now_ms() + 60_000
    while True:  # newest first; a page ends inside a millisecond, so the next starts at it again
        page = await store.rows("my_trades", owner, before, 1000)
        fresh = [row for row in page if (row.trade_id, row.role) not in seen]
        seen.update((row.trade_id, row.role) for row in fresh)
        found.update({(row.trade_id, row.role): row for row in fresh if wanted(row)})
        if len(page) < 1000 or not fresh or (start is not None and page[-1].ts < start) or \
                (from_id is None and start is None and order_id is None and len(found) >= size):
            break
        before = page[-1].ts
    rows = list(found.values())
    rows.sort(key=lambda row: (row.trade_id, row.role))
    rows = rows[:size] if (from_id is not None or start is not None) else rows[-size:]
    quote = feeds.assets[market["quote"]]
    return JSONResponse([views.my_trade(row, market, quote) for row in rows])
