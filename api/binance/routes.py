"""The Binance-compatible routing table: every /api/v3 route, its method and its request weight,
and the few /sapi, /fapi and /dapi routes clients read at start-up (api/binance/wallet.py).

Paths Binance has but this exchange does not (margin, futures, options, OCO, the rest of sapi)
answer Binance's unknown error (-1000), never a 5xx or an HTML page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from . import errors, new_order, public, trading, user_stream, wallet

V3 = "/api/v3"
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def weighed(handler, weight: int):
    """Spend the request's weight for its client address before answering; say the minute's total,
    and on an order the account's orders of the last 10 s, on errors too (as Binance's headers do)."""

    async def endpoint(request: Request):
        client = request.client.host if request.client else "-"
        used = request.app.state.binance_limits.weigh(client, weight)
        try:
            response = await handler(request)
        except errors.BinanceError as error:
            error.headers = {**(error.headers or {}), **_usage(request, used)}
            raise
        response.headers.update(_usage(request, used))
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def _usage(request: Request, used: int) -> dict[str, str]:
    headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
    orders = getattr(request.state, "orders_10s", None)
    if orders is not None:
        headers["X-MBX-ORDER-COUNT-10S"] = str(orders)
    return headers


ROUTES = [
    Route(f"{V3}/order", weighed(new_order.new_order, 1), methods=["POST"]),
    Route(f"{V3}/order", weighed(trading.query_order, 4), methods=["GET"]),
    Route(f"{V3}/order", weighed(trading.cancel_order, 1), methods=["DELETE"]),
    Route(f"{V3}/order/test", weighed(new_order.test_order, 1), methods=["POST"]),
    Route(f"{V3}/openOrders", weighed(trading.open_orders, 6), methods=["GET"]),
    Route(f"{V3}/openOrders", weighed(trading.cancel_open_orders, 1), methods=["DELETE"]),
    Route(f"{V3}/allOrders", weighed(trading.all_orders, 20), methods=["GET"]),
    Route(f"{V3}/account", weighed(trading.account, 20), methods=["GET"]),
    Route(f"{V3}/myTrades", weighed(trading.my_trades, 20), methods=["GET"]),
    Route(f"{V3}/userDataStream", weighed(user_stream.create, 2), methods=["POST"]),
    Route(f"{V3}/userDataStream", weighed(user_stream.keep_alive, 2), methods=["PUT"]),
    Route(f"{V3}/userDataStream", weighed(user_stream.close, 2), methods=["DELETE"]),
    Route(f"{V3}/ping", weighed(public.ping, 1), methods=["GET"]),
    Route(f"{V3}/time", weighed(public.server_time, 1), methods=["GET"]),
    Route(f"{V3}/exchangeInfo", weighed(public.exchange_info, 20), methods=["GET"]),
    Route(f"{V3}/depth", weighed(public.depth, 5), methods=["GET"]),
    Route(f"{V3}/trades", weighed(public.trades, 25), methods=["GET"]),
    Route(f"{V3}/aggTrades", weighed(public.agg_trades, 4), methods=["GET"]),
    Route(f"{V3}/klines", weighed(public.klines, 2), methods=["GET"]),
    Route(f"{V3}/ticker/24hr", weighed(public.ticker_24hr, 2), methods=["GET"]),
    Route(f"{V3}/ticker/price", weighed(public.ticker_price, 2), methods=["GET"]),
    Route(f"{V3}/ticker/bookTicker", weighed(public.book_ticker, 2), methods=["GET"]),
    Route(f"{V3}/avgPrice", weighed(public.avg_price, 2), methods=["GET"]),
    Route("/sapi/v1/capital/config/getall", weighed(wallet.coins, 10), methods=["GET"]),
    Route("/sapi/v1/margin/allPairs", weighed(wallet.margin_pairs, 1), methods=["GET"]),
    Route("/sapi/v1/margin/isolated/allPairs", weighed(wallet.margin_pairs, 10), methods=["GET"]),
    Route("/fapi/v1/exchangeInfo", weighed(wallet.futures_exchange_info, 1), methods=["GET"]),
    Route("/dapi/v1/exchangeInfo", weighed(wallet.futures_exchange_info, 1), methods=["GET"]),
    *[Route(f"{prefix}{{rest:path}}", errors.unsupported, methods=ALL_METHODS) for prefix in errors.PREFIXES],
]
