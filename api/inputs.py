"""Reading requests at the edge: JSON bodies, query parameters and identities, each checked
before anything is sent anywhere; a bad one is a 400 naming the field."""

from __future__ import annotations

import json
import re

import orjson
from starlette.requests import Request

from .errors import bad_request, forbidden, unauthorized
from .security import signed_out

MAX_BODY = 16 * 1024
NEWEST = 2**63 - 1  # a cursor past every id and every time: the first page
DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also accepts "³", which int() refuses
CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,36}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}")
USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,32}")


async def json_body(request: Request, allowed: set[str]) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise bad_request(f"the body is larger than {MAX_BODY} bytes")
    try:
        body = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        raise bad_request("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    repeated = _repeated_key(raw, body)
    if repeated is not None:
        raise bad_request(f"{repeated} appears more than once in the body", field=repeated)
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    return body


class _Repeated(Exception):
    pass


def _no_repeats(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _Repeated(key)
        seen[key] = value
    return seen


def _repeated_key(raw: bytes, body: dict) -> str | None:
    """A key the body names twice, at any depth, or None. A parser keeps the last one, a proxy or
    log may read the first: the two would see different orders, so such a body is refused.

    orjson cannot tell; the standard library's parser can, at 5 µs a body. It runs only when the
    cheap test cannot rule a repeat out: no escapes (a key can be spelt with them), no nesting, and
    every key's quoted spelling found once in the bytes."""
    if b"\\" not in raw and not any(isinstance(v, (dict, list)) for v in body.values()) and all(
            raw.count(orjson.dumps(key)) == 1 for key in body):
        return None
    try:
        json.loads(raw, object_pairs_hook=_no_repeats)
    except _Repeated as repeated:
        return str(repeated)
    return None


def text(body: dict, name: str, *, required: bool = True, default: str | None = None,
         choices: tuple[str, ...] | None = None, pattern: re.Pattern | None = None, max_len: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required", "missing_field", name)
        return default
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise bad_request(f"{name} must be a non-empty string of at most {max_len} characters", field=name)
    if choices is not None and value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}", field=name)
    if pattern is not None and not pattern.fullmatch(value):
        raise bad_request(f"{name} has an invalid format", field=name)
    return value


def decimal_text(body: dict, name: str, required: bool) -> str | None:
    """A decimal string, or None when the field is absent or null. An empty string is neither a
    number nor "no number": it is refused, as every empty value is."""
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required", "missing_field", name)
        return None
    if value == "":
        raise bad_request(f"{name} is empty: leave it out, or give a decimal string such as \"150.25\"", field=name)
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a decimal string such as \"150.25\" (numbers lose precision)",
                          field=name)
    return value


def flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false", field=name)
    return value


def limit(request: Request, default: int = 100, maximum: int = 1000) -> int:
    value = request.query_params.get("limit", str(default))
    if not DIGITS.fullmatch(value) or not 1 <= int(value) <= maximum:
        raise bad_request(f"limit must be a whole number from 1 to {maximum}")
    return int(value)


def cursor(request: Request) -> int:
    """A page cursor of a list ordered by a unique id: the `next` of the previous page; the first page has none."""
    value = request.query_params.get("cursor")
    if value is None:
        return NEWEST
    if not DIGITS.fullmatch(value) or int(value) > NEWEST:
        raise bad_request("cursor must be the `next` value of the previous page")
    return int(value)


def path_id(request: Request, name: str) -> int | None:
    value = request.path_params[name]
    return int(value) if DIGITS.fullmatch(value) and int(value) < 2**63 else None


async def claims(request: Request) -> dict:
    """Who calls: a token's claims (`Authorization: Bearer`) or a signed API key's, or 401."""
    key_id = request.headers.get("x-api-key")
    if key_id:
        from .api_keys import signed_claims

        return await signed_claims(request, key_id)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized()
    found = request.app.state.tokens.read(token.strip())
    if found is None:
        raise unauthorized("the token is invalid or expired")
    if signed_out(found, request.app.state.feeds.sign_outs):
        raise unauthorized("the token was signed out (a password change or a sign-out); log in again")
    return found


async def account(request: Request) -> str:
    return (await claims(request))["sub"]


async def session_account(request: Request) -> str:
    """The caller's account, for what only a logged-in user may do (keys, password, sign-out):
    a leaked API key must not be able to mint more keys or take the account over."""
    found = await claims(request)
    if found.get("via") == "api_key":
        raise forbidden("this needs a token from logging in, not an API key")
    return found["sub"]
