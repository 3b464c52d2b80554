"""Binance's user data stream on the hub: /ws/<listenKey>, or SUBSCRIBE ["<listenKey>"] on a
stream connection (ws/client.py).

The listen key (made by POST /api/v3/userDataStream) names an account; its connection gets that
account's executionReport, outboundAccountPosition and balanceUpdate events. The key is checked
when the client connects (or subscribes) and every CHECK_EVERY seconds after: once it has expired
or was closed, the client gets Binance's listenKeyExpired event and no more of the account's
events; a connection that followed nothing else is closed.
"""

from __future__ import annotations

import asyncio
import re
import time

import orjson

from .connection import text_frame

LISTEN_KEY = re.compile(r"[A-Za-z0-9]{60}")
CHECK_EVERY = 60.0  # seconds


async def serve(client, listen_key: str) -> None:
    binance = client.hub.binance
    try:
        account = await binance.account_of(listen_key)
    except Exception:  # noqa: BLE001 - Cassandra away: the client may try again
        await client.ws.close(code=1011, reason="listen keys cannot be checked now; try again")
        return
    if account is None:
        await client.ws.close(code=1008, reason="This listenKey does not exist.")
        return
    client.listen_key = listen_key
    checks = asyncio.create_task(watch(client, listen_key))
    try:
        await client.serve(account=account)
    finally:
        checks.cancel()


async def watch(client, listen_key: str) -> None:
    binance = client.hub.binance
    while client.closing is None and client.listen_key == listen_key:
        await asyncio.sleep(CHECK_EVERY)
        try:
            alive = await binance.account_of(listen_key) is not None
        except Exception:  # noqa: BLE001 - Cassandra away: check again later, keep streaming
            continue
        if not alive:
            event: dict = {"e": "listenKeyExpired", "E": int(time.time() * 1000), "listenKey": listen_key}
            if client.combined:
                event = {"stream": listen_key, "data": event}
            client.frames.write(text_frame(orjson.dumps(event)))
            binance.unlisten(client)
            client.listen_key = None
            if not client.streams:
                client.cut_off("the listen key expired or was closed")
            return
