"""binance-connector (Binance's own Python connector) against the exchange, only its URLs changed:
its REST client places, gets and cancels orders, and its stream client follows diff_book_depth,
partial_book_depth and user_data (a listen key sent with SUBSCRIBE) while two accounts trade.

Run by tests/e2e/test_binance_ws.py with PYTHONPATH at the connector (Makefile: it and
python-binance both install a top-level `binance` package). Prints what it saw as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from binance.spot import Spot
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

API, WS, SYMBOL = os.environ["EXCHANGE_API"], os.environ["EXCHANGE_WS"], os.environ["SYMBOL"]
maker = Spot(os.environ["MAKER_KEY"], os.environ["MAKER_SECRET"], base_url=API)
taker = Spot(os.environ["TAKER_KEY"], os.environ["TAKER_SECRET"], base_url=API)

seen: list[dict] = []
arrived = threading.Condition()


def on_message(_, text: str) -> None:
    with arrived:
        seen.append(json.loads(text))
        arrived.notify_all()


def wait_for(check, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    with arrived:
        while True:
            found = next((m for m in seen if check(m)), None)
            if found is not None:
                return found
            if not arrived.wait(max(0.0, deadline - time.monotonic())):
                raise SystemExit(f"nothing such within {timeout:.0f}s; saw {json.dumps(seen)[-2000:]}")


streams = SpotWebsocketStreamClient(stream_url=WS, on_message=on_message)
try:
    listen_key = taker.new_listen_key()["listenKey"]
    streams.diff_book_depth(symbol=SYMBOL.lower(), speed=1000)
    streams.partial_book_depth(symbol=SYMBOL.lower(), level=5, speed=1000)
    streams.user_data(listen_key=listen_key)
    wait_for(lambda m: m.get("result", 0) is None and m.get("id") is not None)
    time.sleep(1.0)
    maker.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="25")
    bought = taker.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="25")
    report = wait_for(lambda m: m.get("e") == "executionReport" and m["i"] == bought["orderId"]
                      and m["X"] == "FILLED")
    diff = wait_for(lambda m: m.get("e") == "depthUpdate")
    partial = wait_for(lambda m: "lastUpdateId" in m and m["asks"])
    resting = maker.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="99")
    got = maker.get_order(symbol=SYMBOL, orderId=resting["orderId"])
    cancelled = maker.cancel_order(symbol=SYMBOL, orderId=resting["orderId"])
    print(json.dumps({"report": report, "diff": diff, "partial": partial, "got": got, "cancelled": cancelled}))
finally:
    streams.stop()
sys.exit(0)
