"""cryptofeed's Binance feed pointed at the exchange: prints the first trade of the symbol named
(cryptofeed's form, BASE-QUOTE) as a JSON line and exits. cryptofeed connects only to wss://
addresses; the certificate comes from SSL_CERT_FILE (websockets, aiohttp) and REQUESTS_CA_BUNDLE
(requests). Run by tests/e2e/test_binance_ws.py with EXCHANGE_API and EXCHANGE_WS set."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from cryptofeed import FeedHandler
from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
from cryptofeed.defines import TRADES
from cryptofeed.exchanges import Binance


class LocalBinance(Binance):
    """Binance's feed with only its addresses changed."""

    websocket_endpoints = [WebsocketEndpoint(os.environ["EXCHANGE_WS"])]
    rest_endpoints = [RestEndpoint(os.environ["EXCHANGE_API"], routes=Routes(
        "/api/v3/exchangeInfo", l2book="/api/v3/depth?symbol={}&limit={}", authentication="/api/v3/userDataStream"))]


async def on_trade(trade, receipt_timestamp) -> None:
    print(json.dumps({"symbol": trade.symbol, "price": str(trade.price), "amount": str(trade.amount)}), flush=True)
    os._exit(0)  # cryptofeed's handler runs until a signal; one trade is all this asks


if __name__ == "__main__":
    handler = FeedHandler()  # installs uvloop's policy, which makes no loop of its own
    handler.add_feed(LocalBinance(symbols=[sys.argv[1]], channels=[TRADES], callbacks={TRADES: on_trade}))
    asyncio.set_event_loop(asyncio.new_event_loop())  # FeedHandler.run asks for the current one
    handler.run()
