"""What a user changes about their account: PATCH /auth/me (username), POST /auth/password and
POST /auth/sign-out.

A password change or a sign-out voids every token of the account issued before it: an
exchange.SignOut on the compacted topic exchange.sign-outs, which every API process and hub
follows (api/security.py `signed_out`). Only a logged-in user's token may do any of these, never
an API key (`inputs.session_account`). API keys are revoked one by one.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from exchange.commands import now_ms
from exchange.kafka_io import publish
from schemas.topics import SIGN_OUTS
from schemas.vocabulary import PASSWORD_CHANGED, SIGNED_OUT

from . import security_events
from .auth import account_view, new_password, user_of
from .errors import rate_limited, unauthorized
from .inputs import USERNAME, json_body, session_account, text
from .responses import JSONResponse
from .security import check_password, hash_password, issue_token


async def update_me(request: Request) -> JSONResponse:
    account = await session_account(request)  # who asks first: a stranger learns nothing of the rules
    body = await json_body(request, {"username"})
    username = text(body, "username", pattern=USERNAME, max_len=32)
    user = await user_of(request, account)
    store = request.app.state.store
    await store.rows("set_username_by_email", username, user.email)
    await store.rows("set_username", username, user.account)
    return account_view(user, username=username)


async def change_password(request: Request) -> JSONResponse:
    account = await session_account(request)
    body = await json_body(request, {"current_password", "new_password"})
    current = text(body, "current_password", max_len=200)
    password = new_password(body, "new_password")
    state = request.app.state
    user = await user_of(request, account)
    keys = (f"email:{user.email}",)  # guesses here count with failed logins
    wait = state.brake.attempt(*keys)
    if wait:
        raise rate_limited("wrong passwords", wait)
    login = await state.store.one("user_by_email", user.email)
    if login is None or not await asyncio.to_thread(check_password, current, login.password_hash):
        raise unauthorized("the current password is wrong")
    state.brake.succeeded(*keys)
    password_hash = await asyncio.to_thread(hash_password, password)
    # Signed out first: should the write below fail, the old password still works and no old
    # token does, rather than the other way round.
    await _sign_out(request, account, "password_changed")
    await state.store.rows("set_password", password_hash, user.email)
    await security_events.tell(request, account, PASSWORD_CHANGED)
    token = issue_token(state.secret, account, user.role, state.settings.jwt_ttl_s)
    return JSONResponse({"token": token, "token_type": "Bearer", "expires_in": state.settings.jwt_ttl_s})


async def sign_out(request: Request) -> JSONResponse:
    account = await session_account(request)
    signed_out_before = await _sign_out(request, account, "signed_out")
    await security_events.tell(request, account, SIGNED_OUT)
    return JSONResponse({"signed_out_before": signed_out_before})


async def _sign_out(request: Request, account: str, reason: str) -> int:
    record = {"account": account, "before_ms": now_ms(), "reason": reason}
    await publish(request.app.state.settings, SIGN_OUTS, account, record)
    request.app.state.feeds.reference.signed_out(record)  # here at once; elsewhere as they read it
    return record["before_ms"]
