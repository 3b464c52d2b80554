"""Listen keys for Binance's user data stream: POST makes one (or returns the account's live one),
PUT keeps it alive for another 60 minutes, DELETE ends it. The hub streams the account's
executionReport, outboundAccountPosition and balanceUpdate events on /ws/<listenKey> (ws/binance.py).

Binance asks only for the API key here, not a signature."""

from __future__ import annotations

import secrets
import string

from starlette.requests import Request

from exchange.commands import now_ms

from ..responses import JSONResponse
from . import errors
from .params import api_key_account, read

ALPHABET = string.ascii_letters + string.digits


def new_listen_key() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(60))


async def _owned(request: Request, account: str) -> str:
    params = (await read(request))[0]
    key = params.get("listenKey")
    params.done()
    if key is None:
        raise errors.mandatory("listenKey")
    row = await request.app.state.store.one("listen_key", key)
    if row is None or row.account != account:
        raise errors.listen_key_missing()
    return key


async def _keep(request: Request, account: str, key: str, created: int) -> None:
    store = request.app.state.store
    await store.rows("put_listen_key", key, account, created)
    await store.rows("put_listen_key_of", account, key)


async def create(request: Request) -> JSONResponse:
    account = await api_key_account(request)
    (await read(request))[0].done()
    store = request.app.state.store
    live = await store.one("listen_key_of", account)
    row = None if live is None else await store.one("listen_key", live.listen_key)
    if row is not None and row.account == account:
        await _keep(request, account, live.listen_key, row.created_ts)
        return JSONResponse({"listenKey": live.listen_key})
    key = new_listen_key()
    await _keep(request, account, key, now_ms())
    return JSONResponse({"listenKey": key})


async def keep_alive(request: Request) -> JSONResponse:
    account = await api_key_account(request)
    key = await _owned(request, account)
    row = await request.app.state.store.one("listen_key", key)
    await _keep(request, account, key, row.created_ts if row is not None else now_ms())
    return JSONResponse({})


async def close(request: Request) -> JSONResponse:
    account = await api_key_account(request)
    key = await _owned(request, account)
    await request.app.state.store.rows("drop_listen_key", key)
    return JSONResponse({})
