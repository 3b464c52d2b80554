"""The order rules the API, the accounts stage and the OpenAPI document share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.order_rules import FIELDS, below_min_notional, breach
from exchange.reference import make_asset, make_market
from schemas.vocabulary import INVALID_ORDER, MARKET_BUY_NEEDS_FUNDS

MARKET = make_market("SOL_USDC", make_asset("SOL", 9, 0), make_asset("USDC", 6, 0), tick="0.01", step="0.001",
                     min_notional="1", partition=0, ts=0)


@pytest.mark.parametrize("order, field, reason, missing", [
    (("limit", "buy", None, 10, None), "price", INVALID_ORDER, True),
    (("limit", "sell", 100, None, None), "quantity", INVALID_ORDER, True),
    (("limit", "buy", 100, 10, 5), "quote_quantity", INVALID_ORDER, False),
    (("market", "buy", None, 10, None), "quote_quantity", MARKET_BUY_NEEDS_FUNDS, True),
    (("market", "sell", None, None, None), "quantity", INVALID_ORDER, True),
    (("market", "sell", None, 10, 5), "quote_quantity", INVALID_ORDER, False),
    (("market", "buy", 100, None, 5), "price", INVALID_ORDER, False),
    (("limit", "buy", 0, 10, None), "price", INVALID_ORDER, False),
    (("limit", "buy", 100, -1, None), "quantity", INVALID_ORDER, False),
])
def test_each_broken_rule_names_its_field_and_reason(order, field, reason, missing):
    found = breach(*order)
    assert (found.field, found.reason, found.missing) == (field, reason, missing)


def test_post_only_is_for_gtc_limit_orders():
    assert breach("limit", "buy", 100, 10, None, post_only=True, time_in_force="GTC") is None
    assert breach("limit", "buy", 100, 10, None, post_only=True, time_in_force="IOC").field == "post_only"
    assert breach("market", "sell", None, 10, None, post_only=True, time_in_force="IOC").field == "post_only"


amounts = st.one_of(st.none(), st.integers(-5, 10**6))


@given(st.sampled_from(sorted(FIELDS)), amounts, amounts, amounts)
def test_an_order_passes_exactly_when_it_has_what_its_kind_needs_and_nothing_it_refuses(kind, price, qty, funds):
    values = {"price": price, "quantity": qty, "quote_quantity": funds}
    rules = FIELDS[kind]
    ok = (all(values[f] is not None for f in rules["needs"]) and all(values[f] is None for f in rules["refuses"])
          and all(v is None or v > 0 for v in values.values()))
    assert (breach(*kind, price, qty, funds) is None) == ok


def test_the_minimum_notional():
    # 1 USDC = 1,000,000 atoms; one tick times one step is 10 atoms here.
    assert below_min_notional(MARKET, 100, 999)  # 100 ticks x 999 steps x 10 = 999,000
    assert not below_min_notional(MARKET, 100, 1000)
    assert not below_min_notional(MARKET, None, 1000)  # a market order is checked as it fills


def test_the_openapi_document_states_the_same_rules():
    from api.openapi import PLACE

    for (kind, side), rule in FIELDS.items():
        assert f"a {kind} {side} order needs {' and '.join(rule['needs'])}" in PLACE["description"]
