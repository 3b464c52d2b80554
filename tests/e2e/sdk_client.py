"""Binance's official SDK (binance-sdk-spot) against the exchange with its default settings, only
its URLs changed: REST places, gets and cancels an order; the WebSocket API answers ping and time
and subscribes to user data by signature; the streams follow trades and the diff book while two
accounts trade. Prints what it saw as one JSON line. Run by tests/e2e/test_binance_ws.py."""

from __future__ import annotations

import asyncio
import json
import os

from binance_sdk_spot.rest_api.models import NewOrderSideEnum, NewOrderTimeInForceEnum, NewOrderTypeEnum
from binance_sdk_spot.spot import (
    ConfigurationRestAPI,
    ConfigurationWebSocketAPI,
    ConfigurationWebSocketStreams,
    Spot,
)

API, WS, SYMBOL = os.environ["EXCHANGE_API"], os.environ["EXCHANGE_WS"], os.environ["SYMBOL"]


def client(prefix: str) -> Spot:
    key, secret = os.environ[f"{prefix}_KEY"], os.environ[f"{prefix}_SECRET"]
    return Spot(config_rest_api=ConfigurationRestAPI(api_key=key, api_secret=secret, base_path=API),
                config_ws_api=ConfigurationWebSocketAPI(api_key=key, api_secret=secret, stream_url=f"{WS}/ws-api/v3"),
                config_ws_streams=ConfigurationWebSocketStreams(stream_url=WS))


def limit(spot: Spot, side, price: float) -> dict:
    answer = spot.rest_api.new_order(symbol=SYMBOL, side=side, type=NewOrderTypeEnum.LIMIT,
                                     time_in_force=NewOrderTimeInForceEnum.GTC, quantity=1.0, price=price)
    return answer.data().to_dict()


async def main() -> dict:
    maker, taker = client("MAKER"), client("TAKER")
    seen: dict[str, list] = {"trade": [], "depth": [], "user": []}
    api = await taker.websocket_api.create_connection()
    streams = await taker.websocket_streams.create_connection()
    try:
        pong = (await api.ping()).data()
        server_time = (await api.time()).data().to_dict()
        user = await api.user_data_stream_subscribe_signature()
        user.stream.on("message", lambda event: seen["user"].append(event.to_dict()))
        trades = await streams.trade(symbol=SYMBOL.lower())
        trades.on("message", lambda event: seen["trade"].append(event.to_dict()))
        depth = await streams.diff_book_depth(symbol=SYMBOL.lower())
        depth.on("message", lambda event: seen["depth"].append(event.to_dict()))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(limit, maker, NewOrderSideEnum.SELL, 35.0)
        bought = await asyncio.to_thread(limit, taker, NewOrderSideEnum.BUY, 35.0)
        for _ in range(300):
            if seen["trade"] and seen["depth"] and any(e.get("X") == "FILLED" for e in _reports(seen["user"])):
                break
            await asyncio.sleep(0.1)
        resting = await asyncio.to_thread(limit, maker, NewOrderSideEnum.SELL, 99.0)
        got = maker.rest_api.get_order(symbol=SYMBOL, order_id=resting["orderId"]).data().to_dict()
        cancelled = maker.rest_api.delete_order(symbol=SYMBOL, order_id=resting["orderId"]).data().to_dict()
        return {"pong": pong is not None, "time": server_time, "bought": bought, "got": got, "cancelled": cancelled,
                "trades": seen["trade"], "depth": seen["depth"][:3], "reports": _reports(seen["user"])}
    finally:
        await streams.close_connection()
        await api.close_connection()


def _reports(events: list[dict]) -> list[dict]:
    """The executionReports among the user data events (the SDK hands them over without "e")."""
    return [event for event in events if {"x", "X", "i", "t"} <= event.keys()]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main()), default=str))
