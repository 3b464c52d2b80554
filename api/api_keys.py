"""API keys for trading programs: create, list, revoke, and checking signed requests.

A key's secret is never stored: it is HMAC-SHA256(server secret, "api-key:" + key id), shown
once at creation and recomputed to check a signature. Cassandra keeps only the key's owner and
whether it was revoked; changing JWT_SECRET invalidates every key.

A signed request carries `X-API-Key` (the key id), `X-API-Timestamp` (ms since the epoch, within
30 s of the server's clock) and `X-API-Signature`: hex HMAC-SHA256 with the key's secret over
timestamp + METHOD + path (with its query string) + body. Keys act for their account as a user,
never as an admin, and never create or revoke keys: a leaked key could otherwise mint others
that outlive its own revocation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.requests import Request

from exchange.commands import now_ms
from schemas.vocabulary import API_KEY_CREATED, API_KEY_REVOKED

from . import security_events
from .errors import conflict, not_found, unauthorized
from .inputs import DIGITS, account, json_body, session_account, text
from .responses import JSONResponse

RECV_WINDOW_MS = 30_000
MAX_KEYS = 20


def key_secret(server_secret: str, key_id: str) -> str:
    return hmac.new(server_secret.encode(), f"api-key:{key_id}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}{method.upper()}{path}".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def signed_claims(request: Request, key_id: str) -> dict:
    """The claims of a request signed with an API key, or 401."""
    timestamp = request.headers.get("x-api-timestamp", "")
    given = request.headers.get("x-api-signature", "")
    if not DIGITS.fullmatch(timestamp) or abs(int(timestamp) - int(time.time() * 1000)) > RECV_WINDOW_MS:
        raise unauthorized("X-API-Timestamp must be the current time in ms (within 30 s)")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    expected = signature(key_secret(request.app.state.secret, key_id), timestamp, request.method, path,
                         await request.body())
    if not hmac.compare_digest(expected, given):
        raise unauthorized("the signature does not match")
    row = await request.app.state.store.one("api_key", key_id)
    if row is None or row.revoked:
        raise unauthorized("this API key is unknown or revoked")
    return {"sub": row.account, "role": "user", "via": "api_key"}


async def create_key(request: Request) -> JSONResponse:
    owner = await session_account(request)
    body = await json_body(request, {"label"})
    label = text(body, "label", required=False, default="", max_len=64)
    store = request.app.state.store
    if len([k for k in await store.rows("api_keys_of", owner) if not k.revoked]) >= MAX_KEYS:
        raise conflict(f"at most {MAX_KEYS} live keys per account; revoke one first", "too_many_keys")
    key_id = "k" + secrets.token_hex(12)
    created = now_ms()
    await store.rows("new_api_key", key_id, owner, label, created)
    await store.rows("new_api_key_of", owner, key_id, label, created)
    await security_events.tell(request, owner, API_KEY_CREATED, key_id)
    return JSONResponse({"key_id": key_id, "secret": key_secret(request.app.state.secret, key_id), "label": label,
                         "created_at": created}, status_code=201)


async def list_keys(request: Request) -> JSONResponse:
    owner = await account(request)
    rows = await request.app.state.store.rows("api_keys_of", owner)
    return JSONResponse({"items": [{"key_id": r.key_id, "label": r.label, "created_at": r.created_ts,
                                    "revoked": bool(r.revoked)} for r in rows], "next": None})


async def revoke_key(request: Request) -> JSONResponse:
    owner = await session_account(request)
    key_id = request.path_params["key_id"]
    store = request.app.state.store
    row = await store.one("api_key", key_id)
    if row is None or row.account != owner:
        raise not_found("no such key")
    await store.rows("revoke_api_key", key_id)
    await store.rows("revoke_api_key_of", owner, key_id)
    await security_events.tell(request, owner, API_KEY_REVOKED, key_id)
    return JSONResponse({"key_id": key_id, "revoked": True})
