"""POST /auth/signup, POST /auth/login, GET /auth/me (changes to an account: profile.py)."""

from __future__ import annotations

import asyncio
import secrets

from starlette.requests import Request

from exchange.commands import deposit, now_ms
from schemas.vocabulary import SIGNED_IN

from . import security_events
from .errors import ApiError, conflict, not_found, rate_limited, unauthorized
from .inputs import EMAIL, USERNAME, claims, json_body, text
from .responses import JSONResponse
from .security import check_password, hash_password, issue_token

# In development (what `make run` uses) a new account gets these, so the seed flow trades at once.
DEMO_BALANCES = {"USDC": "100000", "USDT": "100000", "SOL": "100", "BTC": "1", "ETH": "10"}
# Checked against a fixed hash when the email is unknown, so timing does not tell who has an account.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


async def signup(request: Request) -> JSONResponse:
    body = await json_body(request, {"username", "email", "password"})
    username = text(body, "username", pattern=USERNAME, max_len=32)
    email = text(body, "email", pattern=EMAIL, max_len=254).lower()
    password = new_password(body, "password")
    state = request.app.state
    account_id = "u" + secrets.token_hex(10)
    role = "user"
    created = now_ms()
    password_hash = await asyncio.to_thread(hash_password, password)
    applied = await state.store.rows("new_email", email, account_id, username, password_hash, role, created)
    if not applied or not applied[0][0]:  # the lightweight transaction's [applied]
        raise conflict("an account with this email exists", "email_taken")
    await state.store.rows("new_user", account_id, email, username, role, created)
    if not state.settings.is_production:
        await _credit_demo_balances(request, account_id)
    return JSONResponse({"account_id": account_id, "username": username, "email": email}, status_code=201)


async def _credit_demo_balances(request: Request, account_id: str) -> None:
    from exchange.reference import amount_to_atoms

    assets = request.app.state.feeds.assets
    commands = [deposit(account_id, symbol, amount_to_atoms(assets[symbol], amount), "demo balance at signup")
                for symbol, amount in DEMO_BALANCES.items() if symbol in assets]
    if commands:
        await request.app.state.commands.send(commands)


async def login(request: Request) -> JSONResponse:
    body = await json_body(request, {"email", "password"})
    email = text(body, "email", max_len=254).lower()
    password = text(body, "password", max_len=200)
    state = request.app.state
    keys = (f"email:{email}", f"client:{request.client.host if request.client else '?'}")
    wait = state.brake.attempt(*keys)
    if wait:
        raise rate_limited("failed logins", wait)
    user = await state.store.one("user_by_email", email)
    good = await asyncio.to_thread(check_password, password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not good:
        raise unauthorized("wrong email or password")
    state.brake.succeeded(*keys)
    token = issue_token(state.secret, user.account, user.role, state.settings.jwt_ttl_s)
    await security_events.tell(request, user.account, SIGNED_IN)
    return JSONResponse({"token": token, "token_type": "Bearer", "expires_in": state.settings.jwt_ttl_s})


def new_password(body: dict, name: str) -> str:
    password = text(body, name, max_len=200)
    if len(password) < 8:
        raise ApiError(400, "weak_password", f"{name} must be at least 8 characters")
    return password


async def me(request: Request) -> JSONResponse:
    return account_view(await user_of(request, (await claims(request))["sub"]))


async def user_of(request: Request, account: str):
    user = await request.app.state.store.one("user_by_account", account)
    if user is None:
        raise not_found("this account does not exist any more")
    return user


def account_view(user, **changed) -> JSONResponse:
    view = {"account_id": user.account, "username": user.username, "email": user.email, "role": user.role,
            "created_at": user.created_ts}
    return JSONResponse({**view, **changed})



