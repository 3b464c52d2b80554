"""Binance's signed queries and cancels: order (query, cancel), openOrders, allOrders, account and
myTrades, read from the read side and cancelled through the exchange's own order flow."""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from exchange.commands import cancel, now_ms
from schemas.vocabulary import OPEN_STATUSES

from ..fresh_reads import BALANCE, FILLS, ORDERS, fresh
from ..ids import AHEAD_S, placed_ms
from ..orders import open_order_rows, send_and_wait
from ..responses import JSONResponse
from . import errors, views
from .numbers import ZERO, atoms_to_amount
from .params import Params, signed

# An order placed this recently may not be on the read side yet: a query for it waits this long
# before saying it does not exist (order ids carry their time, api/ids.py).
RECENT_MS = 10_000
READ_SIDE_WAIT_S = 2.0


def _feeds(request: Request):
    return request.app.state.feeds


async def _find(request: Request, owner: str, params: Params, market: dict):
    """The order `orderId` or `origClientOrderId` names, if it is this account's in this market."""
    order_id = params.integer("orderId", None, 0)
    client_id = params.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise errors.BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both "
                                              "were empty/null!")
    store = request.app.state.store
    await fresh(request, owner, ORDERS)
    if order_id is None:
        if client_id.startswith(views.AUTO_CLIENT_ID) and client_id[len(views.AUTO_CLIENT_ID):].isdigit():
            order_id = int(client_id[len(views.AUTO_CLIENT_ID):])
        else:
            found = (await store.one("order_by_client_id", owner, client_id)
                     or await store.one("client_order_claim", owner, client_id))
            if found is None:
                return None
            order_id = found.order_id
    row = await store.one("order", owner, order_id)
    deadline = asyncio.get_running_loop().time() + READ_SIDE_WAIT_S
    while row is None and _recent(order_id) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)  # placed moments ago: the read side is writing it
        row = await store.one("order", owner, order_id)
    if row is None or row.market != market["symbol"]:
        return None
    if client_id is not None and views.client_order_id(row) != client_id:
        return None
    return row


def _recent(order_id: int) -> bool:
    return -AHEAD_S * 1000 <= now_ms() - placed_ms(order_id) <= RECENT_MS  # an id may run ahead


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
    rows = await open_order_rows(request, owner, None if market is None else market["symbol"])
    return sorted((row for row in rows if row.status in OPEN_STATUSES), key=lambda row: row.order_id)


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
    await fresh(request, owner, ORDERS)
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
    rows = views.page(rows, size, from_id is not None or start is not None)
    quote = feeds.assets[market["quote"]]
    return JSONResponse([views.order(row, market, quote) for row in rows])


async def account(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    omit_zero = params.get("omitZeroBalances") == "true"
    params.done()
    assets = _feeds(request).assets
    balances = []
    await fresh(request, owner, BALANCE)
    for row in await request.app.state.store.rows("balances", owner):
        asset = assets.get(row.asset)
        if asset is None or (omit_zero and not row.available and not row.held):
            continue
        balances.append({"asset": row.asset, "free": atoms_to_amount(asset, row.available),
                         "locked": atoms_to_amount(asset, row.held)})
    return JSONResponse({
        "makerCommission": 0, "takerCommission": 0, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": ZERO, "taker": ZERO, "buyer": ZERO, "seller": ZERO},
        "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
        "requireSelfTradePrevention": True, "preventSor": True, "updateTime": now_ms(), "accountType": "SPOT",
        "balances": balances, "permissions": ["SPOT"], "uid": 0})


async def my_trades(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    feeds = _feeds(request)
    market = views.market_of(feeds.markets, params.get("symbol"))
    order_id = params.integer("orderId", None, 0)
    from_id = params.integer("fromId", None, 0)
    start, end = params.time_window(86_400_000)
    size = params.integer("limit", 500, 1, 1000)
    params.done()
    def wanted(row) -> bool:
        return (row.market == market["symbol"] and (order_id is None or row.order_id == order_id)
                and (from_id is None or row.trade_id >= from_id) and (start is None or row.ts >= start)
                and (end is None or row.ts <= end))

    await fresh(request, owner, FILLS)
    store, seen, found = request.app.state.store, set(), {}
    before = end if end is not None else now_ms() + 60_000
    while True:  # newest first; a page ends inside a millisecond, so the next starts at it again
        page = await store.rows("my_trades", owner, before, 1000)
        unseen = [row for row in page if (row.trade_id, row.role) not in seen]
        seen.update((row.trade_id, row.role) for row in unseen)
        found.update({(row.trade_id, row.role): row for row in unseen if wanted(row)})
        if len(page) < 1000 or not unseen or (start is not None and page[-1].ts < start) or \
                (from_id is None and start is None and order_id is None and len(found) >= size):
            break
        before = page[-1].ts
    rows = list(found.values())
    rows.sort(key=lambda row: (row.trade_id, row.role))
    rows = views.page(rows, size, from_id is not None or start is not None)
    quote = feeds.assets[market["quote"]]
    return JSONResponse([views.my_trade(row, market, quote) for row in rows])
