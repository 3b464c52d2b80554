"""Public data: assets, markets, depth, recent trades, the 24 h ticker and candles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from starlette.requests import Request

from exchange.reference import percent_change, signed_ticks_to_price, steps_to_qty, ticks_to_price
from schemas.codec import codec

from . import views
from .errors import ApiError, bad_request, not_found
from .inputs import limit
from .responses import JSONResponse

INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")


def _market(request: Request) -> dict:
    symbol = request.query_params.get("market") or request.path_params.get("market")
    market = request.app.state.feeds.markets.get(symbol) if symbol else None
    if market is None:
        raise ApiError(404 if symbol else 400, "unknown_market", f"no market {symbol}" if symbol else
                       "market is required")
    return market


async def assets(request: Request) -> JSONResponse:
    items = [{"symbol": a["symbol"], "decimals": a["decimals"]}
             for _, a in sorted(request.app.state.feeds.assets.items())]
    return JSONResponse({"items": items, "next": None})


async def markets(request: Request) -> JSONResponse:
    feeds = request.app.state.feeds
    items = [views.market_view(m, feeds.assets) for _, m in sorted(feeds.markets.items())]
    return JSONResponse({"items": items, "next": None})


async def market(request: Request) -> JSONResponse:
    return JSONResponse(views.market_view(_market(request), request.app.state.feeds.assets))


async def depth(request: Request) -> JSONResponse:
    market = _market(request)
    size = limit(request, 100, 5000)
    row = await request.app.state.store.one("depth", market["symbol"])
    if row is None:
        return JSONResponse({"last_update_id": 0, "bids": [], "asks": []})
    snapshot = codec.decode_as("exchange.DepthSnapshot", row.snapshot)

    def levels(side: list[dict]) -> list[list[str]]:
        return [[ticks_to_price(market, lv["price"]), steps_to_qty(market, lv["quantity"])] for lv in side[:size]]

    return JSONResponse({"last_update_id": snapshot["last_update_id"], "bids": levels(snapshot["bids"]),
                         "asks": levels(snapshot["asks"])})


async def trades(request: Request) -> JSONResponse:
    market = _market(request)
    size = limit(request, 100, 1000)
    store, feeds = request.app.state.store, request.app.state.feeds
    items: list[dict] = []
    day = datetime.now(timezone.utc)
    for _ in range(7):  # today, then earlier days, until the page is full
        rows = await store.rows("trades", market["symbol"], day.strftime("%Y-%m-%d"), size - len(items))
        items.extend(views.public_trade(r, market, feeds.assets) for r in rows)
        if len(items) >= size:
            break
        day -= timedelta(days=1)
    return JSONResponse({"items": items, "next": None})


async def ticker(request: Request) -> JSONResponse:
    market = _market(request)
    row = await request.app.state.store.one("ticker", market["symbol"])
    if row is None:
        raise not_found(f"no trades in {market['symbol']} yet")
    quote = request.app.state.feeds.assets[market["quote"]]
    return JSONResponse({
        "market": market["symbol"], "open": ticks_to_price(market, row.open),
        "high": ticks_to_price(market, row.high), "low": ticks_to_price(market, row.low),
        "last": ticks_to_price(market, row.last),
        "change": signed_ticks_to_price(market, row.last - row.open),
        "change_percent": percent_change(row.open, row.last),
        "volume": steps_to_qty(market, row.volume), "quote_volume": views.amount(quote, row.quote_volume),
        "trade_count": row.trade_count, "open_time": row.open_time, "close_time": row.close_time})


async def klines(request: Request) -> JSONResponse:
    market = _market(request)
    interval = request.query_params.get("interval", "1m")
    if interval not in INTERVALS:
        raise bad_request(f"interval must be one of {', '.join(INTERVALS)}")
    size = limit(request, 100, 1000)
    quote = request.app.state.feeds.assets[market["quote"]]
    rows = await request.app.state.store.rows("candles", market["symbol"], interval, size)
    items = [[r.open_time, ticks_to_price(market, r.open), ticks_to_price(market, r.high),
              ticks_to_price(market, r.low), ticks_to_price(market, r.close), steps_to_qty(market, r.volume),
              r.close_time, views.amount(quote, r.quote_volume), r.trade_count] for r in rows]
    return JSONResponse({"items": items, "next": None})
