"""Errors as Binance sends them: an HTTP status and {"code": -NNNN, "msg": "..."}.

Client libraries map the code (and for some, the message) to their own exception types, so each
condition uses Binance's code and, where a library matches on it, Binance's exact message.
"""

from __future__ import annotations

from starlette.requests import Request

from ..responses import JSONResponse

# Paths that answer in Binance's shape, whatever goes wrong on them.
PREFIXES = ("/api/v3/", "/sapi/", "/fapi/", "/dapi/", "/eapi/", "/papi/", "/wapi/", "/futures/")


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str, headers: dict | None = None) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.headers = status, code, msg, headers


def unknown(msg: str = "An unknown error occurred while processing the request.") -> BinanceError:
    return BinanceError(400, -1000, msg)


def illegal_chars(msg: str) -> BinanceError:
    return BinanceError(400, -1100, msg)


def duplicate(name: str) -> BinanceError:
    return BinanceError(400, -1101, f"Duplicate values for parameter '{name}'.")


def mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def unread(names: list[str]) -> BinanceError:
    return BinanceError(400, -1104, f"Not all sent parameters were read; unread: {', '.join(names)}.")


def not_required(name: str) -> BinanceError:
    return BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


def bad_precision(name: str) -> BinanceError:
    return BinanceError(400, -1111, f"Parameter '{name}' has too much precision.")


def invalid_tif() -> BinanceError:
    return BinanceError(400, -1115, "Invalid timeInForce.")


def invalid_order_type() -> BinanceError:
    return BinanceError(400, -1116, "Invalid orderType.")


def invalid_side() -> BinanceError:
    return BinanceError(400, -1117, "Invalid side.")


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, "Invalid symbol.")


def invalid_interval() -> BinanceError:
    return BinanceError(400, -1120, "Invalid interval.")


def bad_value(name: str, why: str) -> BinanceError:
    return BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; {why}.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def order_rejected(msg: str) -> BinanceError:
    return BinanceError(400, -2010, msg)


INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."


def cancel_rejected(msg: str = "Unknown order sent.") -> BinanceError:
    return BinanceError(400, -2011, msg)


def no_such_order() -> BinanceError:
    return BinanceError(400, -2013, "Order does not exist.")


def bad_signature() -> BinanceError:
    return BinanceError(400, -1022, "Signature for this request is not valid.")


def outside_window(ahead: bool = False) -> BinanceError:
    if ahead:
        return BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    return BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def key_format() -> BinanceError:
    return BinanceError(401, -2014, "API-key format invalid.")


def key_rejected() -> BinanceError:
    return BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def too_many_requests(retry_after_s: int) -> BinanceError:
    return BinanceError(429, -1003, "Too many requests; current limit of request weight per minute is exceeded.",
                        {"Retry-After": str(retry_after_s)})


def too_many_orders(limit: int, seconds: int, retry_after_s: int) -> BinanceError:
    return BinanceError(429, -1015, f"Too many new orders; current limit is {limit} orders per {seconds} SECOND.",
                        {"Retry-After": str(retry_after_s)})


def listen_key_missing() -> BinanceError:
    return BinanceError(400, -1125, "This listenKey does not exist.")


def render(status: int, code: int, msg: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=status, headers=headers)


async def on_binance_error(request: Request, exc: BinanceError) -> JSONResponse:
    return render(exc.status, exc.code, exc.msg, exc.headers)


def is_binance_path(path: str) -> bool:
    return path.startswith(PREFIXES)


async def unsupported(request: Request) -> JSONResponse:
    """Margin, futures, options, OCO, sapi and any other path this exchange does not have."""
    return render(404, -1000, f"An unknown error occurred while processing the request: "
                              f"{request.method} {request.url.path} is not supported by this exchange.")
