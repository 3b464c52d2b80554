"""Binance's request rules at the edge: what a signature signs, repeated and unread parameters,
timestamps, and the symbols and error shapes clients map to their own types."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.binance import errors, views
from api.binance.params import check_time, read, signed_payload

SIG = "ab" * 32


def test_the_signature_signs_the_query_then_the_body_without_itself():
    assert signed_payload(f"a=1&b=2&signature={SIG}", "") == ("a=1&b=2", SIG)
    assert signed_payload("", f"a=1&b=2&signature={SIG}") == ("a=1&b=2", SIG)
    assert signed_payload("symbol=X&timestamp=5", f"orderId=1&signature={SIG}") == ("symbol=X&timestamp=5orderId=1",
                                                                                   SIG)
    assert signed_payload(f"signature={SIG}&a=1", "") == ("a=1", SIG)


@given(st.lists(st.text("abcdefgh=&", max_size=8), max_size=4))
def test_a_request_without_a_signature_is_refused_as_badly_signed(parts):
    query = "&".join(parts).replace("signature", "")
    with pytest.raises(errors.BinanceError) as refused:
        signed_payload(query, "")
    assert refused.value.code == -1022


def request(query: str, body: bytes = b"", method: str = "GET") -> Request:
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": method, "path": "/api/v3/order", "query_string": query.encode(),
             "headers": [(b"content-type", b"application/x-www-form-urlencoded")]}
    return Request(scope, receive)


def code_of(coroutine) -> int:
    with pytest.raises(errors.BinanceError) as refused:
        asyncio.run(coroutine)
    return refused.value.code


def test_a_parameter_given_twice_anywhere_is_refused():
    assert code_of(read(request("symbol=A&symbol=A"))) == -1101
    assert code_of(read(request("symbol=A", b"symbol=B", "POST"))) == -1101
    params, _, _ = asyncio.run(read(request("symbol=A", b"side=BUY", "POST")))
    assert params.values == {"symbol": "A", "side": "BUY"}


def test_parameters_nobody_read_are_refused():
    params, _, _ = asyncio.run(read(request("symbol=A&colour=red")))
    params.get("symbol")
    with pytest.raises(errors.BinanceError) as refused:
        params.done()
    assert refused.value.code == -1104 and "colour" in refused.value.msg


def test_integers_are_checked_and_bounded():
    params, _, _ = asyncio.run(read(request("limit=12x&depth=9000")))
    with pytest.raises(errors.BinanceError):
        params.integer("limit")
    with pytest.raises(errors.BinanceError):
        params.integer("depth", 100, 1, 5000)


def test_timestamps_within_the_window_before_now_pass():
    now = int(time.time() * 1000)
    check_time(now - 4000, 5000)
    for stamp, window, code in ((now - 6000, 5000, -1021), (now + 5000, 5000, -1021), (now, 60_001, -1131),
                                (None, 5000, -1102)):
        with pytest.raises(errors.BinanceError) as refused:
            check_time(stamp, window)
        assert refused.value.code == code


def test_symbols_map_both_ways_and_unknown_ones_are_binances_invalid_symbol():
    markets = {"SOL_USDC": {"symbol": "SOL_USDC", "base": "SOL", "quote": "USDC"}}
    assert views.symbol_of(markets["SOL_USDC"]) == "SOLUSDC"
    assert views.market_of(markets, "solusdc") is markets["SOL_USDC"]
    with pytest.raises(errors.BinanceError) as refused:
        views.market_of(markets, "SOL_USDC")
    assert (refused.value.code, refused.value.msg) == (-1121, "Invalid symbol.")
