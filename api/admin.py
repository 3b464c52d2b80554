"""Admin only: define assets and markets, halt and resume trading. The records go on the same
compacted topics `exchange asset|market` writes; every process picks them up from there."""

from __future__ import annotations

from starlette.requests import Request

from exchange.commands import now_ms
from exchange.kafka_io import publish
from exchange.reference import DefinitionError, default_partition, make_asset, make_market
from schemas.topics import ASSETS, MARKETS

from . import views
from .errors import ApiError, bad_request, conflict, forbidden, not_found
from .inputs import claims, json_body, text
from .responses import JSONResponse


async def require_admin(request: Request) -> None:
    if (await claims(request)).get("role") != "admin":
        raise forbidden("administrators only")


async def create_asset(request: Request) -> JSONResponse:
    await require_admin(request)
    body = await json_body(request, {"symbol", "decimals"})
    symbol, decimals = text(body, "symbol", max_len=10), body.get("decimals")
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise bad_request("decimals must be a whole number")
    try:
        asset = make_asset(symbol, decimals, now_ms())
    except DefinitionError as exc:
        raise bad_request(str(exc)) from None
    feeds = request.app.state.feeds
    existing = feeds.assets.get(symbol)
    if existing is not None:
        if existing["decimals"] != decimals:
            raise conflict(f"asset {symbol} exists with {existing['decimals']} decimals; they are fixed once created")
        return JSONResponse({"symbol": symbol, "decimals": decimals}, status_code=200)
    await publish(request.app.state.settings, ASSETS, symbol, asset)
    feeds.assets[symbol] = asset  # the feed will bring the same record
    return JSONResponse({"symbol": symbol, "decimals": decimals}, status_code=201)


async def create_market(request: Request) -> JSONResponse:
    await require_admin(request)
    body = await json_body(request, {"symbol", "base", "quote", "tick", "step", "min_notional", "maker_fee",
                                     "taker_fee"})
    feeds, settings = request.app.state.feeds, request.app.state.settings
    symbol = text(body, "symbol", max_len=21)
    if symbol in feeds.markets:
        raise conflict(f"market {symbol} exists")
    base, quote = (feeds.assets.get(text(body, side, max_len=10)) for side in ("base", "quote"))
    if base is None or quote is None:
        raise ApiError(404, "unknown_asset", "base and quote must be existing assets")
    try:
        market = make_market(symbol, base, quote, tick=text(body, "tick", max_len=40),
                             step=text(body, "step", max_len=40),
                             min_notional=text(body, "min_notional", required=False, default="0", max_len=40),
                             maker_fee=text(body, "maker_fee", required=False, default="0", max_len=12),
                             taker_fee=text(body, "taker_fee", required=False, default="0", max_len=12),
                             partition=default_partition(symbol, settings.partitions), ts=now_ms())
    except DefinitionError as exc:
        raise bad_request(str(exc)) from None
    await publish(settings, MARKETS, symbol, market)
    feeds.markets[symbol] = market
    return JSONResponse(views.market_view(market, feeds.assets), status_code=201)


async def _set_status(request: Request, status: str) -> JSONResponse:
    await require_admin(request)
    feeds = request.app.state.feeds
    market = feeds.markets.get(request.path_params["market"])
    if market is None:
        raise not_found(f"no market {request.path_params['market']}")
    if market["status"] != status:
        market = {**market, "status": status, "ts": now_ms()}
        await publish(request.app.state.settings, MARKETS, market["symbol"], market)
        feeds.markets[market["symbol"]] = market
    return JSONResponse(views.market_view(market, feeds.assets))


async def halt_market(request: Request) -> JSONResponse:
    return await _set_status(request, "halted")


async def resume_market(request: Request) -> JSONResponse:
    return await _set_status(request, "open")
