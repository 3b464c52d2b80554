"""Binance's public market data: ping, time, exchangeInfo, depth, trades, aggTrades, klines,
ticker/24hr, ticker/price, ticker/bookTicker, avgPrice."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from starlette.requests import Request

from exchange.reference import percent_change, quote_per_base
from schemas.codec import codec

from ..responses import JSONResponse
from . import errors, views
from .numbers import ZERO, atoms_to_amount, display, fixed, signed_ticks_to_price, steps_to_qty, ticks_to_price
from .params import Params, read

INTERVALS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
ALL_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
TRADE_DAYS = 7  # how far back recent trades are looked for
MAX_QUANTITY = "9000000000.00000000"  # what LOT_SIZE and PRICE_FILTER state as maxima; the engine's are wider


def _feeds(request: Request):
    return request.app.state.feeds


async def ping(request: Request) -> JSONResponse:
    (await read(request))[0].done()
    return JSONResponse({})


async def server_time(request: Request) -> JSONResponse:
    (await read(request))[0].done()
    return JSONResponse({"serverTime": int(time.time() * 1000)})


def _symbols(params: Params, markets: dict) -> list[dict] | None:
    """The markets of `symbol` or `symbols` (a JSON list), or None for all; -1121 for an unknown one."""
    one, many = params.get("symbol"), params.get("symbols")
    if one is not None and many is not None:
        raise errors.BinanceError(400, -1128, "Combination of optional parameters invalid.")
    if one is not None:
        return [views.market_of(markets, one)]
    if many is None:
        return None
    try:
        names = json.loads(many)
    except ValueError:
        raise errors.bad_value("symbols", "a JSON list of symbols is expected") from None
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise errors.bad_value("symbols", "a JSON list of symbols is expected")
    return [views.market_of(markets, name) for name in names]


def symbol_info(market: dict, assets: dict) -> dict:
    base, quote = assets[market["base"]], assets[market["quote"]]
    tick, step = fixed(market["tick"]), fixed(market["step"])  # as exchangeInfo's filters show them
    return {
        "symbol": views.symbol_of(market), "status": "TRADING" if market["status"] == "open" else "HALT",
        "baseAsset": market["base"], "baseAssetPrecision": base["decimals"],
        "quoteAsset": market["quote"], "quotePrecision": quote["decimals"], "quoteAssetPrecision": quote["decimals"],
        "baseCommissionPrecision": base["decimals"], "quoteCommissionPrecision": quote["decimals"],
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False, "cancelReplaceAllowed": False, "amendAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": MAX_QUANTITY, "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": MAX_QUANTITY, "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": MAX_QUANTITY, "stepSize": step},
            {"filterType": "NOTIONAL", "minNotional": atoms_to_amount(quote, market["min_notional"]),
             "applyMinToMarket": False, "maxNotional": MAX_QUANTITY, "applyMaxToMarket": False,
             "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_TAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


async def exchange_info(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    feeds = _feeds(request)
    chosen = _symbols(params, feeds.markets)
    params.get("permissions")  # every market here is spot
    params.get("showPermissionSets")
    params.get("symbolStatus")
    params.done()
    markets = chosen if chosen is not None else [m for _, m in sorted(feeds.markets.items())]
    limits = request.app.state.binance_limits
    return JSONResponse({
        "timezone": "UTC", "serverTime": int(time.time() * 1000),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": limits.weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": limits.orders_per_10s},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_info(m, feeds.assets) for m in markets if m["base"] in feeds.assets
                    and m["quote"] in feeds.assets],
    })


async def _snapshot(request: Request, market: dict) -> dict:
    row = await request.app.state.store.one("depth", market["symbol"])
    if row is None:
        return {"last_update_id": 0, "bids": [], "asks": []}
    return codec.decode_as("exchange.DepthSnapshot", row.snapshot)


def _levels(market: dict, side: list[dict], size: int) -> list[list[str]]:
    return [[ticks_to_price(market, level["price"]), steps_to_qty(market, level["quantity"])] for level in side[:size]]


async def depth(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    market = views.market_of(_feeds(request).markets, params.get("symbol"))
    size = params.integer("limit", 100, 1, 5000)
    params.done()
    snapshot = await _snapshot(request, market)
    return JSONResponse({"lastUpdateId": snapshot["last_update_id"], "bids": _levels(market, snapshot["bids"], size),
                         "asks": _levels(market, snapshot["asks"], size)})


async def _recent_trades(request: Request, market: dict, wanted, enough: int, until_ms: int | None = None,
                         per_day: int = 5000) -> list:
    """Trades of the market for which `wanted(row)` holds, newest first, from the newest day on."""
    store = request.app.state.store
    day = datetime.fromtimestamp((until_ms or time.time() * 1000) / 1000, timezone.utc)
    rows: list = []
    for _ in range(TRADE_DAYS):
        found = await store.rows("trades", market["symbol"], day.strftime("%Y-%m-%d"), per_day)
        rows.extend(row for row in found if wanted(row))
        if len(rows) >= enough:
            break
        day -= timedelta(days=1)
    return rows


async def trades(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    market = views.market_of(_feeds(request).markets, params.get("symbol"))
    size = params.integer("limit", 500, 1, 1000)
    params.done()
    quote = _feeds(request).assets[market["quote"]]
    rows = (await _recent_trades(request, market, lambda row: True, size, per_day=size))[:size]
    return JSONResponse([views.public_trade(row, market, quote) for row in reversed(rows)])


async def agg_trades(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    market = views.market_of(_feeds(request).markets, params.get("symbol"))
    from_id = params.integer("fromId", None, 0)
    start, end = params.time_window(3_600_000)
    size = params.integer("limit", 500, 1, 1000)
    params.done()

    def wanted(row) -> bool:
        return ((from_id is None or row.trade_id >= from_id) and (start is None or row.ts >= start)
                and (end is None or row.ts <= end))

    rows = sorted(await _recent_trades(request, market, wanted, 10**9 if from_id or start else size, end),
                  key=lambda row: row.trade_id)
    rows = views.page(rows, size, from_id is not None or start is not None)
    return JSONResponse([views.agg_trade(row, market) for row in rows])


async def klines(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    market = views.market_of(_feeds(request).markets, params.get("symbol"))
    interval = params.required("interval")
    if interval not in ALL_INTERVALS:
        raise errors.invalid_interval()
    if interval not in INTERVALS:
        raise errors.BinanceError(400, -1120, f"Invalid interval: this exchange keeps {', '.join(INTERVALS)}.")
    start, end = params.integer("startTime", None, 0), params.integer("endTime", None, 0)
    params.get("timeZone")
    size = params.integer("limit", 500, 1, 1000)
    params.done()
    rows = await request.app.state.store.rows("candles", market["symbol"], interval, 5000 if start else size)
    rows = [row for row in rows if (start is None or row.open_time >= start) and (end is None or row.open_time <= end)]
    rows.sort(key=lambda row: row.open_time)
    rows = views.page(rows, size, start is not None)
    quote = _feeds(request).assets[market["quote"]]
    return JSONResponse([views.kline(row, market, quote) for row in rows])


def _best(market: dict, snapshot: dict) -> dict:
    def top(side: list[dict]) -> tuple[str, str]:
        if not side:
            return ZERO, ZERO
        return ticks_to_price(market, side[0]["price"]), steps_to_qty(market, side[0]["quantity"])

    (bid, bid_qty), (ask, ask_qty) = top(snapshot["bids"]), top(snapshot["asks"])
    return {"bidPrice": bid, "bidQty": bid_qty, "askPrice": ask, "askQty": ask_qty}


async def _ticker(request: Request, market: dict) -> dict:
    store, quote = request.app.state.store, _feeds(request).assets[market["quote"]]
    row = await store.one("ticker", market["symbol"])
    best = _best(market, await _snapshot(request, market))
    symbol = views.symbol_of(market)
    if row is None:
        zero = {"priceChange": ZERO, "priceChangePercent": "0.00", "weightedAvgPrice": ZERO, "prevClosePrice": ZERO,
                "lastPrice": ZERO, "lastQty": ZERO, **best, "openPrice": ZERO, "highPrice": ZERO, "lowPrice": ZERO,
                "volume": ZERO, "quoteVolume": ZERO, "openTime": 0, "closeTime": 0, "firstId": -1, "lastId": -1,
                "count": 0}
        return {"symbol": symbol, **zero}
    last = await _recent_trades(request, market, lambda trade: True, 1, row.close_time, per_day=1)
    average = ZERO
    if row.volume:
        average = display(quote_per_base(market, quote, row.volume, row.quote_volume))
    return {
        "symbol": symbol, "priceChange": signed_ticks_to_price(market, row.last - row.open),
        "priceChangePercent": percent_change(row.open, row.last), "weightedAvgPrice": average,
        "prevClosePrice": ticks_to_price(market, row.open), "lastPrice": ticks_to_price(market, row.last),
        "lastQty": steps_to_qty(market, last[0].quantity) if last else ZERO, **best,
        "openPrice": ticks_to_price(market, row.open), "highPrice": ticks_to_price(market, row.high),
        "lowPrice": ticks_to_price(market, row.low), "volume": steps_to_qty(market, row.volume),
        "quoteVolume": atoms_to_amount(quote, row.quote_volume), "openTime": row.open_time,
        "closeTime": row.close_time, "firstId": row.first_trade_id, "lastId": row.last_trade_id,
        "count": row.trade_count,
    }


def _one_or_all(params: Params, request: Request) -> tuple[list[dict], bool]:
    chosen = _symbols(params, _feeds(request).markets)
    single = params.values.get("symbol") not in (None, "")
    return (chosen if chosen is not None else [m for _, m in sorted(_feeds(request).markets.items())]), single


async def ticker_24hr(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    markets, single = _one_or_all(params, request)
    kind = params.choice("type", ("FULL", "MINI"), default="FULL")
    params.done()
    tickers = [await _ticker(request, market) for market in markets]
    if kind == "MINI":
        keep = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime",
                "closeTime", "firstId", "lastId", "count")
        tickers = [{k: t[k] for k in keep} for t in tickers]
    return JSONResponse(tickers[0] if single else tickers)


async def ticker_price(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    markets, single = _one_or_all(params, request)
    params.done()
    prices = []
    for market in markets:
        row = await request.app.state.store.one("ticker", market["symbol"])
        prices.append({"symbol": views.symbol_of(market),
                       "price": ticks_to_price(market, row.last) if row is not None else ZERO})
    return JSONResponse(prices[0] if single else prices)


async def book_ticker(request: Request) -> JSONResponse:
    params = (await read(request))[0]
    markets, single = _one_or_all(params, request)
    params.done()
    books = [{"symbol": views.symbol_of(m), **_best(m, await _snapshot(request, m))} for m in markets]
    return JSONResponse(books[0] if single else books)


async def avg_price(request: Request) -> JSONResponse:
    """The volume-weighted price of the last five one-minute candles (Binance's `avgPrice`)."""
    params = (await read(request))[0]
    market = views.market_of(_feeds(request).markets, params.get("symbol"))
    params.done()
    quote = _feeds(request).assets[market["quote"]]
    rows = await request.app.state.store.rows("candles", market["symbol"], "1m", 5)
    volume = sum(row.volume for row in rows)
    price = ZERO
    if volume:
        amount = sum(row.quote_volume for row in rows)
        price = display(quote_per_base(market, quote, volume, amount))
    return JSONResponse({"mins": 5, "price": price, "closeTime": rows[0].close_time if rows else 0})
