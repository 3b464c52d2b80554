"""Asset and market definitions: every rule, its message, and exact conversions on the grids."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, Inexact, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.reference import (
    DefinitionError,
    GridError,
    amount_to_atoms,
    atoms_to_amount,
    default_partition,
    make_asset,
    make_market,
    market_spec,
    percent_change,
    ppm_to_fee,
    price_to_ticks,
    qty_to_steps,
    steps_to_qty,
    ticks_to_price,
)
from schemas.codec import codec
from schemas.topics import account_partition
from streams.engine import MarketSpec

SOL = make_asset("SOL", 9, 1)
USDC = make_asset("USDC", 6, 1)


def sol_usdc(tick: str = "0.01", step: str = "0.001", **terms) -> dict:
    return make_market("SOL_USDC", SOL, USDC, tick, step, partition=terms.pop("partition", 0), ts=2, **terms)


# --- assets -------------------------------------------------------------------------------------

def test_an_asset_is_an_avro_asset_record():
    assert make_asset("USDC", 6, 5) == {"symbol": "USDC", "decimals": 6, "ts": 5}
    assert codec.decode_as("exchange.Asset", codec.encode("exchange.Asset", USDC)) == USDC


@pytest.mark.parametrize("symbol", ["S", "ABCDEFGHIJK", "sol", "SO-L", "SÖL", "", None])
def test_asset_symbols_are_2_to_10_uppercase_letters_or_digits(symbol):
    with pytest.raises(DefinitionError, match="asset symbol must be 2 to 10 uppercase letters or digits"):
        make_asset(symbol, 6, 1)


def test_asset_symbol_limits_are_inclusive():
    assert make_asset("B2", 0, 1)["symbol"] == "B2"
    assert make_asset("ABCDEFGH10", 18, 1)["decimals"] == 18


@pytest.mark.parametrize("decimals", [-1, 19, 2.0, True, "6"])
def test_asset_decimals_are_a_whole_number_from_0_to_18(decimals):
    with pytest.raises(DefinitionError, match="decimals must be a whole number from 0 to 18"):
        make_asset("SOL", decimals, 1)


# --- markets ------------------------------------------------------------------------------------

def test_a_market_derives_its_integers_exactly():
    market = sol_usdc(min_notional="1", maker_fee="0.001", taker_fee="0.002", partition=3)
    assert market == {
        "symbol": "SOL_USDC", "base": "SOL", "quote": "USDC", "tick": "0.01", "step": "0.001",
        "quote_per_tick_step": 10,  # 0.01 × 0.001 = 0.00001 USDC = 10 atoms
        "base_per_step": 1_000_000,  # 0.001 SOL = 10^6 atoms
        "min_notional": 1_000_000, "maker_fee_ppm": 1000, "taker_fee_ppm": 2000,
        "status": "open", "partition": 3, "ts": 2,
    }
    assert codec.decode_as("exchange.Market", codec.encode("exchange.Market", market)) == market


def test_the_grid_rule_from_the_readme():
    assert sol_usdc("0.01", "0.0001")["quote_per_tick_step"] == 1
    with pytest.raises(GridError) as raised:
        sol_usdc("0.001", "0.0001")
    assert str(raised.value) == (
        "price tick × quantity step must be an exact number of quote atoms: "
        "0.001 × 0.0001 = 0.0000001 USDC is 0.1 atoms (USDC has 6 decimals)")


def test_tick_and_step_are_stored_in_canonical_form():
    market = sol_usdc("0.010", "001.000")
    assert (market["tick"], market["step"], market["base_per_step"]) == ("0.01", "1", 10**9)


def test_a_step_must_be_a_whole_number_of_base_atoms():
    with pytest.raises(GridError,
                       match=r"^step 0.0000000001 is not a whole number of SOL atoms \(SOL has 9 decimals\)$"):
        sol_usdc("1000", "0.0000000001")


def test_the_symbol_must_be_base_underscore_quote():
    with pytest.raises(DefinitionError, match="market symbol must be BASE_QUOTE, here SOL_USDC, not 'USDC_SOL'"):
        make_market("USDC_SOL", SOL, USDC, "0.01", "0.001", partition=0, ts=1)


def test_base_and_quote_must_differ():
    with pytest.raises(DefinitionError, match="two different assets, not SOL twice"):
        make_market("SOL_SOL", SOL, SOL, "0.01", "0.001", partition=0, ts=1)


@pytest.mark.parametrize("field", ["tick", "step"])
def test_tick_and_step_must_be_above_zero(field):
    with pytest.raises(DefinitionError, match=f"^{field} must be greater than 0, not 0.000$"):
        sol_usdc(**{"tick": "0.01", "step": "0.001", field: "0.000"})


@pytest.mark.parametrize("text", ["-0.01", "+0.01", "1e-2", "1E2", ".01", "1.", "NaN", "Infinity", "0x10",
                                  " 0.01", "0,01", "١", "", "1" * 41, 0.01])
def test_only_plain_decimal_strings_are_read(text):
    with pytest.raises(DefinitionError, match="tick must be a plain decimal string such as 0.01 or 150"):
        sol_usdc(tick=text)


def test_min_notional_is_converted_to_quote_atoms_exactly():
    assert sol_usdc(min_notional="0")["min_notional"] == 0
    assert sol_usdc(min_notional="0.000001")["min_notional"] == 1
    with pytest.raises(GridError, match=r"^min_notional 0.0000005 is not a multiple of one USDC atom \(0.000001\)$"):
        sol_usdc(min_notional="0.0000005")


@pytest.mark.parametrize("field", ["maker_fee", "taker_fee"])
def test_fees_are_exact_parts_per_million_up_to_10_percent(field):
    assert sol_usdc(**{field: "0.1"})[f"{field}_ppm"] == 100_000
    assert sol_usdc(**{field: "0.000001"})[f"{field}_ppm"] == 1
    with pytest.raises(DefinitionError, match=rf"^{field} 0.1000001 is above the maximum 0.1 \(10%\)$"):
        sol_usdc(**{field: "0.1000001"})
    with pytest.raises(GridError, match=rf"^{field} 0.0000015 is not a multiple of 1 ppm \(0.000001\)$"):
        sol_usdc(**{field: "0.0000015"})


@pytest.mark.parametrize("partition", [-1, 1.0, None])
def test_the_partition_is_a_whole_number_from_0(partition):
    with pytest.raises(DefinitionError, match="partition must be a whole number, at least 0"):
        sol_usdc(partition=partition)


def test_derived_integers_must_fit_an_avro_long():
    big = make_asset("BIG", 18, 1)
    with pytest.raises(DefinitionError, match="step in base atoms is too large"):
        make_market("BIG_USDC", big, USDC, "1", "10", partition=0, ts=1)


def test_the_engine_spec_carries_units_and_fees():
    market = sol_usdc(maker_fee="0.001", taker_fee="0.002")
    assert market_spec(market) == MarketSpec("SOL_USDC", quote_per_tick_step=10, maker_fee_ppm=1000, taker_fee_ppm=2000)


def test_the_default_partition_is_the_stable_key_hash():
    assert default_partition("SOL_USDC", 8) == account_partition("SOL_USDC", 8)
    assert {default_partition(f"M{n}_USDC", 4) for n in range(40)} == {0, 1, 2, 3}


# --- conversions --------------------------------------------------------------------------------

def test_prices_and_quantities_count_ticks_and_steps():
    market = sol_usdc()
    assert price_to_ticks(market, "150.25") == 15025
    assert price_to_ticks(market, "150") == 15000
    assert qty_to_steps(market, "2.5") == 2500
    assert amount_to_atoms(USDC, "1.5") == 1_500_000


def test_off_grid_values_name_the_field_and_the_grid():
    market = sol_usdc()
    with pytest.raises(GridError, match="^price 150.255 is not a multiple of the tick 0.01$"):
        price_to_ticks(market, "150.255")
    with pytest.raises(GridError, match="^quantity 0.0015 is not a multiple of the step 0.001$"):
        qty_to_steps(market, "0.0015")
    with pytest.raises(GridError, match=r"^amount 1.0000001 is not a multiple of one USDC atom \(0.000001\)$"):
        amount_to_atoms(USDC, "1.0000001")


@pytest.mark.parametrize(("convert", "field"), [
    (lambda text: price_to_ticks(sol_usdc(), text), "price"),
    (lambda text: qty_to_steps(sol_usdc(), text), "quantity"),
    (lambda text: amount_to_atoms(USDC, text), "amount"),
])
def test_conversions_want_a_positive_plain_decimal(convert, field):
    with pytest.raises(DefinitionError, match=f"^{field} must be greater than 0, not 0$"):
        convert("0")
    with pytest.raises(DefinitionError, match=f"^{field} must be a plain decimal string"):
        convert("-1")


def test_conversions_refuse_what_a_long_cannot_carry():
    with pytest.raises(DefinitionError, match="price is too large"):
        price_to_ticks(sol_usdc(), "100000000000000000")
    assert price_to_ticks(sol_usdc(), "92233720368547758.07") == 2**63 - 1


def test_the_output_format_is_the_shortest_plain_decimal():
    market = sol_usdc()
    assert ticks_to_price(market, 15000) == "150"
    assert ticks_to_price(market, 15025) == "150.25"
    assert ticks_to_price(market, 1) == "0.01"
    assert steps_to_qty(market, 1) == "0.001"
    assert steps_to_qty(make_market("SOL_USDC", SOL, USDC, "0.01", "100", partition=0, ts=1), 3) == "300"
    assert atoms_to_amount(USDC, 0) == "0"
    assert atoms_to_amount(USDC, 10**18) == "1000000000000"
    assert atoms_to_amount(make_asset("WEI", 18, 1), 1) == "0.000000000000000001"
    assert ppm_to_fee(1500) == "0.0015"


@pytest.mark.parametrize("count", [-1, 1.0, "5", True])
def test_integers_to_text_want_whole_non_negative_numbers(count):
    with pytest.raises(DefinitionError, match="must be a whole number, at least 0"):
        ticks_to_price(sol_usdc(), count)


# --- properties ---------------------------------------------------------------------------------

def plain(value: Decimal) -> str:
    return format(value, "f")


@st.composite
def markets(draw) -> tuple[dict, dict, dict]:
    """A random valid market with its base and quote: tick and step are 1, 2 or 5 × 10^n.

    The step is at most 10^17 base atoms and tick × step at most 10^8 quote atoms, so every
    derived integer fits a long.
    """
    base = make_asset("BASE", draw(st.integers(0, 18)), 1)
    quote = make_asset("QUOTE", draw(st.integers(0, 18)), 1)
    step_exponent = draw(st.integers(-base["decimals"], min(2, 17 - base["decimals"])))
    step = Decimal(draw(st.sampled_from([1, 2, 5]))).scaleb(step_exponent)
    # The finest tick that keeps tick × step a whole number of quote atoms, then up to 10^6 coarser.
    finest_tick = max(0, -step_exponent) - quote["decimals"]
    tick = Decimal(draw(st.sampled_from([1, 2, 5]))).scaleb(draw(st.integers(finest_tick, finest_tick + 6)))
    return make_market("BASE_QUOTE", base, quote, plain(tick), plain(step), partition=0, ts=1), base, quote


@given(markets(), st.integers(1, 10**9), st.integers(1, 10**9))
def test_on_grid_prices_and_quantities_round_trip(definition, ticks, steps):
    market, _, _ = definition
    price, qty = ticks_to_price(market, ticks), steps_to_qty(market, steps)
    assert Decimal(price) == ticks * Decimal(market["tick"])
    assert "e" not in price.lower() and not (price.endswith("0") and "." in price)
    assert price_to_ticks(market, price) == ticks
    assert qty_to_steps(market, qty) == steps


@given(markets(), st.integers(0, 10**9), st.integers(1, 9))
def test_off_grid_prices_and_quantities_are_rejected(definition, count, tenths):
    market, _, _ = definition
    off = count + Decimal(tenths) / 10  # a fraction of one unit off the grid
    with pytest.raises(GridError, match="^price .* is not a multiple of the tick"):
        price_to_ticks(market, plain(off * Decimal(market["tick"])))
    with pytest.raises(GridError, match="^quantity .* is not a multiple of the step"):
        qty_to_steps(market, plain(off * Decimal(market["step"])))


@given(markets(), st.integers(1, 10**9), st.integers(1, 10**9))
def test_tick_step_units_give_the_exact_decimal_product_in_atoms(definition, ticks, steps):
    market, base, quote = definition
    with localcontext(prec=200) as exact:
        exact.traps[Inexact] = True  # the Decimal side must not round either
        price, qty = Decimal(ticks_to_price(market, ticks)), Decimal(steps_to_qty(market, steps))
        assert ticks * steps * market["quote_per_tick_step"] == price * qty * 10 ** quote["decimals"]
        assert steps * market["base_per_step"] == qty * 10 ** base["decimals"]


@given(st.integers(0, 18), st.integers(1, 2**63 - 1))
def test_amounts_round_trip_through_atoms(decimals, atoms):
    asset = make_asset("COIN", decimals, 1)
    assert amount_to_atoms(asset, atoms_to_amount(asset, atoms)) == atoms


@given(st.integers(0, 100_000), st.integers(1, 9))
def test_fees_are_exact_in_ppm_and_finer_rates_are_refused(ppm, extra_digit):
    fee = ppm_to_fee(ppm)
    assert Decimal(fee) * 1_000_000 == ppm
    assert sol_usdc(taker_fee=fee)["taker_fee_ppm"] == ppm
    finer = plain(Decimal(ppm * 10 + extra_digit).scaleb(-7))  # one digit past 1 ppm
    with pytest.raises(DefinitionError, match="^taker_fee "):
        sol_usdc(taker_fee=finer)


# --- price change -------------------------------------------------------------------------------

@pytest.mark.parametrize("before, after, shown", [
    (100, 101, "1.00"), (3, 2, "-33.33"), (3, 4, "33.33"), (8, 7, "-12.50"), (1, 1, "0.00"),
    (200_000, 199_999, "0.00"), (0, 5, "0.00"), (1, 3, "200.00"),
])
def test_percent_change_examples(before, after, shown):
    assert percent_change(before, after) == shown


@given(st.integers(1, 10**15), st.integers(0, 10**15))
def test_percent_change_is_the_exact_change_rounded_half_away_from_zero(before, after):
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(after - before) * 100 / Decimal(before)
        expected = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    shown = percent_change(before, after)
    assert Decimal(shown) == expected
    assert not shown.startswith("-0.00")
