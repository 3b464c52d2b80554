"""Request bodies at the edge: ambiguous or empty input is refused, naming the field."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.errors import ApiError
from api.inputs import decimal_text, json_body

ORDER_FIELDS = {"market", "side", "price", "quantity", "type", "client_order_id"}


def read(raw: bytes, allowed=frozenset(ORDER_FIELDS)) -> dict:
    async def receive() -> dict:
        return {"type": "http.request", "body": raw, "more_body": False}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    return asyncio.run(json_body(request, set(allowed)))


def refusal(raw: bytes, allowed=frozenset(ORDER_FIELDS)) -> ApiError:
    with pytest.raises(ApiError) as refused:
        read(raw, allowed)
    assert refused.value.status == 400
    return refused.value


def test_a_repeated_key_is_refused_and_named():
    raw = b'{"market":"SOL_USDC","side":"sell","price":"100000","quantity":"1","side":"buy","price":"2"}'
    error = refusal(raw)
    assert error.field == "side" and "more than once" in error.message


@pytest.mark.parametrize("raw, repeated", [
    (b'{"email":"a@example.com","password":"x","email":"b@example.com"}', "email"),
    (b'{"si\\u0064e":"buy","side":"sell"}', "side"),  # the same key spelt with an escape
    (b'{"side":"side","side":"buy"}', "side"),  # a value that spells a key
    (b'{"market":{"a":1,"a":2}}', "a"),  # nested
    (b'{"market":[{"a":1,"a":2}]}', "a"),
])
def test_repeats_however_spelt_or_nested_are_found(raw, repeated):
    assert refusal(raw, {"email", "password", "side", "market"}).field == repeated


def test_a_key_that_also_appears_as_a_value_is_not_a_repeat():
    assert read(b'{"type":"limit","market":"type"}') == {"type": "limit", "market": "type"}


@given(st.dictionaries(st.sampled_from(sorted(ORDER_FIELDS)), st.text(max_size=8), max_size=6))
def test_any_body_without_repeats_reads_as_json_says(body):
    raw = json.dumps(body).encode()  # escapes non-ASCII: the slow, exact check runs
    assert read(raw) == body
    assert read(orjson.dumps(body)) == body  # raw UTF-8: the quick check decides


@pytest.mark.parametrize("value", ["", 150, 1.5, True, [], {}])
def test_a_decimal_field_is_a_non_empty_string(value):
    with pytest.raises(ApiError) as refused:
        decimal_text({"price": value}, "price", required=False)
    assert refused.value.status == 400 and refused.value.field == "price"


def test_an_empty_decimal_is_called_empty():
    with pytest.raises(ApiError, match="price is empty"):
        decimal_text({"price": ""}, "price", required=True)


def test_an_absent_or_null_decimal_is_none_unless_required():
    assert decimal_text({}, "price", required=False) is None
    assert decimal_text({"price": None}, "price", required=False) is None
    with pytest.raises(ApiError) as refused:
        decimal_text({}, "price", required=True)
    assert refused.value.code == "missing_field" and refused.value.field == "price"
