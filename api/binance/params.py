"""Request parameters as Binance takes them, and signed requests.

Parameters come in the query string and, for POST, PUT and DELETE, in a form-encoded body
(python-binance sends DELETE's there). A name given twice, in one place or across both, is
refused (-1101): Binance would quietly prefer the query's, and a guess is how orders go wrong.

A signed request carries the API key in `X-MBX-APIKEY` and `signature`, the hex HMAC-SHA256 of
the query string followed by the body (without the signature itself), keyed with the key's
secret. `timestamp` (ms) must be within `recvWindow` (default 5,000 ms, at most 60,000) before
the server's clock, and at most 1,000 ms after it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import parse_qsl

from starlette.requests import Request

from ..api_keys import key_secret
from . import errors

MAX_BODY = 64 * 1024
DEFAULT_RECV_WINDOW = 5_000
MAX_RECV_WINDOW = 60_000
KEY_FORMAT = re.compile(r"k[0-9a-f]{24}")
SIGNATURE = re.compile(r"(^|&)signature=([0-9a-fA-F]{64})(?=&|$)")
INTEGER = re.compile(r"-?[0-9]{1,19}")


class Params:
    """The request's parameters; every one must be read, or the request is refused (-1104)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.read: set[str] = set()

    def get(self, name: str) -> str | None:
        self.read.add(name)
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise errors.mandatory(name)
        return value

    def integer(self, name: str, default: int | None = None, low: int | None = None,
                high: int | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        if not INTEGER.fullmatch(value):
            raise errors.bad_value(name, "an integer is expected")
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise errors.BinanceError(400, -1100, f"Parameter '{name}' is out of range [{low}, {high}].")
        return number

    def choice(self, name: str, choices: tuple[str, ...], error: errors.BinanceError | None = None,
               default: str | None = None) -> str | None:
        value = self.get(name)
        if value is None:
            return default
        if value not in choices:
            raise error or errors.bad_value(name, f"one of {', '.join(choices)} is expected")
        return value

    def time_window(self, longest_ms: int) -> tuple[int | None, int | None]:
        """`startTime` and `endTime`; -1127 if they are further apart than `longest_ms`."""
        start, end = self.integer("startTime", None, 0), self.integer("endTime", None, 0)
        if start is not None and end is not None and end - start > longest_ms:
            raise errors.BinanceError(400, -1127, f"More than {longest_ms // 3_600_000} hours between startTime "
                                                  "and endTime.")
        return start, end

    def done(self) -> None:
        unread = sorted(set(self.values) - self.read)
        if unread:
            raise errors.unread(unread)


def _pairs(raw: str, where: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw), max_num_fields=200)
    except ValueError:
        raise errors.illegal_chars(f"The {where} is not a valid form-encoded list of parameters.") from None


async def read(request: Request) -> tuple[Params, str, str]:
    """The parameters, and the raw query string and body they came in (for the signature)."""
    query = request.url.query
    body = ""
    if request.method in ("POST", "PUT", "DELETE"):
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise errors.illegal_chars("The body is too large.")
        try:
            body = raw.decode("ascii")
        except UnicodeDecodeError:
            raise errors.illegal_chars("The body must be form-encoded ASCII.") from None
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if body and kind not in ("", "application/x-www-form-urlencoded"):
            raise errors.illegal_chars("Parameters are sent form-encoded (application/x-www-form-urlencoded).")
    values: dict[str, str] = {}
    for name, value in _pairs(query, "query string") + _pairs(body, "body"):
        if name in values:
            raise errors.duplicate(name)
        values[name] = value
    return Params(values), query, body


async def signed(request: Request) -> tuple[Params, str]:
    """The parameters of a signed request and the account its key acts for; Binance's errors otherwise."""
    key_id, account = await _api_key(request)
    params, query, body = await read(request)
    params.required("signature")
    params.get("recvWindow")  # read below, after the signature
    payload, given = signed_payload(query, body)
    check_signature(request.app.state.secret, key_id, payload, given)
    check_time(params.integer("timestamp"), params.integer("recvWindow", DEFAULT_RECV_WINDOW))
    return params, account


def signed_payload(query: str, body: str) -> tuple[str, str]:
    """What a request's signature signs (the query string, then the body, without the signature
    parameter itself) and the signature; -1022 if there is none to find."""
    in_body = SIGNATURE.search(body) is not None
    where = body if in_body else query
    found = SIGNATURE.search(where)
    if found is None:
        raise errors.bad_signature()
    unsigned = where[: found.start()] + (where[found.end():] if found.group(1) else where[found.end() + 1:])
    return ((query + unsigned) if in_body else (unsigned + body)), found.group(2)


def check_signature(server_secret: str, key_id: str, payload: str, given: str) -> None:
    """-1022 unless `given` is the hex HMAC-SHA256 of `payload` with the key's secret."""
    secret = key_secret(server_secret, key_id)
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise errors.bad_signature()


def check_time(timestamp: int | None, window: int | None) -> None:
    """-1021 unless `timestamp` is within `window` ms before now (and at most 1 s ahead)."""
    if timestamp is None:
        raise errors.mandatory("timestamp")
    if window is None or not 0 < window <= MAX_RECV_WINDOW:
        raise errors.BinanceError(400, -1131, "recvWindow must be less than 60000")
    now = int(time.time() * 1000)
    if timestamp > now + 1000:
        raise errors.outside_window(ahead=True)
    if now - timestamp > window:
        raise errors.outside_window()


async def api_key_account(request: Request) -> str:
    """The account of the API key in `X-MBX-APIKEY`, for what Binance asks only the key for
    (the user data stream's listen keys)."""
    return (await _api_key(request))[1]


async def _api_key(request: Request) -> tuple[str, str]:
    """The key in `X-MBX-APIKEY` and its account."""
    key_id = request.headers.get("x-mbx-apikey", "")
    return key_id, await key_account(request.app.state.store, key_id)


async def key_account(store, key_id: str) -> str:
    """The account an API key acts for; -2014 if the key is malformed, -2015 if unknown or revoked."""
    if not KEY_FORMAT.fullmatch(key_id):
        raise errors.key_format()
    row = await store.one("api_key", key_id)
    if row is None or row.revoked:
        raise errors.key_rejected()
    return row.account
