"""The one error shape every endpoint answers with: {"error": {"code": ..., "message": ...}}, plus
"field" when one input field is the cause, so a form can show the error next to it."""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError
from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException
from starlette.exceptions import HTTPException
from starlette.requests import Request

from .binance import errors as binance
from .ids import OrderIdsUnavailable
from .responses import JSONResponse

log = logging.getLogger("exchange.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.field = status, code, message, headers, field


def bad_request(message: str, code: str = "invalid_request", field: str | None = None) -> ApiError:
    return ApiError(400, code, message, field=field)


def unauthorized(message: str = "a valid bearer token is required") -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str, code: str = "conflict") -> ApiError:
    return ApiError(409, code, message)


def rate_limited(what: str, wait_s: float) -> ApiError:
    """429 with Retry-After: `wait_s` seconds until the login brake lets the caller try again."""
    seconds = int(wait_s) + 1
    return ApiError(429, "rate_limited", f"too many {what}; try again in {seconds} s", {"Retry-After": str(seconds)})


def unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message)


def error_response(status: int, code: str, message: str, headers: dict | None = None,
                   field: str | None = None) -> JSONResponse:
    error = {"code": code, "message": message} if field is None else {"code": code, "message": message, "field": field}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers, exc.field)


STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request", 401: "unauthorized"}


async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if binance.is_binance_path(request.url.path):
        return binance.render(exc.status_code, -1000, str(exc.detail), getattr(exc, "headers", None))
    return error_response(exc.status_code, STATUS_CODES.get(exc.status_code, "error"), str(exc.detail),
                          getattr(exc, "headers", None))


def _unavailable(request: Request) -> JSONResponse:
    if binance.is_binance_path(request.url.path):
        return binance.render(503, -1001, "Internal error; unable to process your request. Please try again.")
    return error_response(503, "unavailable", "a backing service did not answer; try again")


async def on_backing_service_error(request: Request, exc: Exception) -> JSONResponse:
    """Cassandra or Kafka did not answer: 503, logged in one line (an outage makes many)."""
    log.warning("%s %s: a backing service did not answer: %s: %s", request.method, request.url.path,
                type(exc).__name__, str(exc)[:300])
    return _unavailable(request)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug, logged with its traceback. Starlette raises it on to the server after this answer,
    # which closes the connection: backing services' errors have handlers of their own above,
    # so an outage does not cut every client's connection.
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _unavailable(request)


# The errors of Cassandra's and Kafka's clients when a server is away or slow.
BACKING_SERVICE_ERRORS = (NoHostAvailable, DriverException, ConnectionException, KafkaError, OrderIdsUnavailable)

HANDLERS = {ApiError: on_api_error, binance.BinanceError: binance.on_binance_error, HTTPException: on_http_error,
            **{kind: on_backing_service_error for kind in BACKING_SERVICE_ERRORS}, Exception: on_unexpected}
