"""Binance's number format: eight decimals at least, the value unchanged."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from api.binance import numbers

MARKET = {"symbol": "SOL_USDC", "tick": "0.01", "step": "0.001"}
ASSET = {"symbol": "BTC", "decimals": 8}
FINE = {"symbol": "X", "decimals": 12}


def test_zero_and_whole_numbers_get_eight_decimals():
    # python-binance's depth cache deletes a level only on this exact string.
    assert numbers.steps_to_qty(MARKET, 0) == numbers.ZERO == "0.00000000"
    assert numbers.ticks_to_price(MARKET, 15_000) == "150.00000000"
    assert numbers.ticks_to_price(MARKET, 15_001) == "150.01000000"
    assert numbers.fixed("0.01") == "0.01000000"
    assert numbers.signed_atoms_to_amount(ASSET, -150_000_000) == "-1.50000000"


@given(st.integers(0, 10**18))
def test_the_value_is_kept_and_nothing_is_rounded(atoms):
    for asset in (ASSET, FINE):
        text = numbers.atoms_to_amount(asset, atoms)
        assert Decimal(text) == Decimal(atoms).scaleb(-asset["decimals"])
        assert 8 <= len(text.partition(".")[2]) <= max(8, asset["decimals"])
