"""Assets and markets: their definitions, the grid rules, and the conversions between the decimal
strings people type and the integers the exchange counts in.

Pure: no I/O and no clock (`ts` comes in). Inside, everything is an integer: a balance is a
number of asset atoms (10^-decimals of the asset), a price a number of ticks, a quantity a number
of steps. A fill of `steps` at `ticks` is worth `ticks * steps * quote_per_tick_step` quote atoms,
which is why a market is only accepted when one tick times one step is a whole number of quote
atoms.

Decimal strings in: digits with an optional fraction ("150", "0.01", "007.50"); no sign, no
exponent, no NaN/Infinity, no leading or trailing dot, ASCII digits only. Arithmetic on them is
exact (`Fraction` of the parsed `Decimal`), never a float and never a rounding decimal context.

Decimal strings out: the shortest exact plain form, with no exponent, no sign, no trailing zeros
and no trailing dot; "0" for zero and a leading "0" before a fraction: "150", "150.25", "0.001".
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from schemas.topics import account_partition
from streams.engine import MarketSpec

MAX_DECIMALS = 18  # one whole unit of an asset, 10^18 atoms, still fits an Avro long
MAX_LONG = 2**63 - 1  # amounts, prices and quantities travel as Avro longs
MAX_FEE = Fraction(1, 10)
PPM = 1_000_000
MAX_TEXT = 40  # characters of a decimal string; more is a typo or an attack, not an amount

_SYMBOL = re.compile(r"[A-Z0-9]{2,10}")
_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


class DefinitionError(ValueError):
    """An asset, a market or an amount that breaks the rules; the message names field and rule."""


class GridError(DefinitionError):
    """A price, quantity or amount that is not a whole number of its unit (tick, step or atom)."""


def make_asset(symbol: str, decimals: int, ts: int) -> dict:
    """An `exchange.Asset` record."""
    _check_symbol("asset symbol", symbol)
    if type(decimals) is not int or not 0 <= decimals <= MAX_DECIMALS:
        raise DefinitionError(f"decimals must be a whole number from 0 to {MAX_DECIMALS}, not {decimals!r}")
    return {"symbol": symbol, "decimals": decimals, "ts": ts}


def make_market(
    symbol: str, base: dict, quote: dict, tick: str, step: str, *,
    min_notional: str = "0", maker_fee: str = "0", taker_fee: str = "0", partition: int, ts: int,
) -> dict:
    """An open `exchange.Market` record trading `base` for `quote` (both `exchange.Asset` records).

    tick and step are stored in the output format, so two spellings of one grid ("0.010" and
    "0.01") give the same record.
    """
    expected = f"{base['symbol']}_{quote['symbol']}"
    if symbol != expected:
        raise DefinitionError(f"market symbol must be BASE_QUOTE, here {expected}, not {symbol!r}")
    if base["symbol"] == quote["symbol"]:
        raise DefinitionError(f"a market needs two different assets, not {base['symbol']} twice")
    tick_value = _positive("tick", tick)
    step_value = _positive("step", step)
    base_per_step = step_value * 10 ** base["decimals"]
    if base_per_step.denominator != 1:
        raise GridError(f"step {step} is not a whole number of {base['symbol']} atoms "
                        f"({base['symbol']} has {base['decimals']} decimals)")
    quote_per_tick_step = tick_value * step_value * 10 ** quote["decimals"]
    if quote_per_tick_step.denominator != 1:
        raise GridError(f"price tick × quantity step must be an exact number of quote atoms: "
                        f"{tick} × {step} = {_format(tick_value * step_value)} {quote['symbol']} is "
                        f"{_format(quote_per_tick_step)} atoms ({quote['symbol']} has {quote['decimals']} decimals)")
    if type(partition) is not int or partition < 0:
        raise DefinitionError(f"partition must be a whole number, at least 0, not {partition!r}")
    return {
        "symbol": symbol, "base": base["symbol"], "quote": quote["symbol"],
        "tick": _format(tick_value), "step": _format(step_value),
        "quote_per_tick_step": _fits_long("price tick × quantity step in quote atoms", quote_per_tick_step.numerator),
        "base_per_step": _fits_long("step in base atoms", base_per_step.numerator),
        "min_notional": _in_atoms("min_notional", min_notional, _parse("min_notional", min_notional), quote),
        "maker_fee_ppm": _fee_ppm("maker_fee", maker_fee),
        "taker_fee_ppm": _fee_ppm("taker_fee", taker_fee),
        "status": "open", "partition": partition, "ts": ts,
    }


def price_to_ticks(market: dict, text: str) -> int:
    """A price in quote per base unit, as a whole number of the market's ticks."""
    return _in_units("price", text, _positive("price", text), _grid_unit(market["tick"]),
                     f"the tick {market['tick']}")


def qty_to_steps(market: dict, text: str) -> int:
    """A quantity of the base asset, as a whole number of the market's steps."""
    return _in_units("quantity", text, _positive("quantity", text), _grid_unit(market["step"]),
                     f"the step {market['step']}")


def amount_to_atoms(asset: dict, text: str) -> int:
    """An amount of an asset, as a whole number of its atoms (at most `decimals` places)."""
    return _in_atoms("amount", text, _positive("amount", text), asset)


# Every order, trade and payload shown goes through these, so they count in integers: a grid unit
# is `digits` × 10^-places (read once per unit text), and a value is formatted from its scaled
# integer. Fractions gave the same strings at about ten times the cost.
def ticks_to_price(market: dict, ticks: int) -> str:
    digits, places = _grid_scale(market["tick"])
    return _scaled(_non_negative("ticks", ticks) * digits, places)


def steps_to_qty(market: dict, steps: int) -> str:
    digits, places = _grid_scale(market["step"])
    return _scaled(_non_negative("steps", steps) * digits, places)


def atoms_to_amount(asset: dict, atoms: int) -> str:
    return _scaled(_non_negative("atoms", atoms), asset["decimals"])


def signed_atoms_to_amount(asset: dict, atoms: int) -> str:
    """As atoms_to_amount, for movements that can be negative (ledger entries, price changes)."""
    return ("-" if atoms < 0 else "") + atoms_to_amount(asset, abs(atoms))


def signed_ticks_to_price(market: dict, ticks: int) -> str:
    """A price movement, which can be negative: -150 ticks of 0.01 -> "-1.5"."""
    return ("-" if ticks < 0 else "") + ticks_to_price(market, abs(ticks))


def percent_change(before: int, after: int) -> str:
    """after against before in percent with two decimals, rounded half away from zero; integers
    only, so the figure is the same on every machine: (100, 101) -> "1.00", (3, 2) -> "-33.33"."""
    if before == 0:
        return "0.00"
    hundredths, rest = divmod(abs(after - before) * 10_000, before)
    hundredths += 2 * rest >= before
    sign = "-" if after < before and hundredths else ""
    return f"{sign}{hundredths // 100}.{hundredths % 100:02d}"


def quote_per_base(market: dict, quote: dict, steps: int, atoms: int) -> Decimal:
    """The price `atoms` of quote paid for `steps` of base, per base unit: an average for display,
    never used for money (steps must not be 0)."""
    return Decimal(atoms).scaleb(-quote["decimals"]) / (Decimal(steps) * Decimal(market["step"]))


def ppm_to_fee(ppm: int) -> str:
    """A fee rate in parts per million as the fraction operators type: 1000 -> "0.001"."""
    return _format(Fraction(_non_negative("fee ppm", ppm), PPM))


def market_spec(market: dict) -> MarketSpec:
    """What the matching engine needs to know of a market."""
    return MarketSpec(symbol=market["symbol"], quote_per_tick_step=market["quote_per_tick_step"],
                      maker_fee_ppm=market["maker_fee_ppm"], taker_fee_ppm=market["taker_fee_ppm"])


def default_partition(symbol: str, partitions: int) -> int:
    """The partition a new market is pinned to when the operator names none: a stable hash."""
    return account_partition(symbol, partitions)


def _check_symbol(field: str, symbol: str) -> None:
    if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
        raise DefinitionError(f"{field} must be 2 to 10 uppercase letters or digits, not {symbol!r}")


def _parse(field: str, text: str) -> Fraction:
    if not isinstance(text, str) or len(text) > MAX_TEXT or not _PLAIN_DECIMAL.fullmatch(text):
        raise DefinitionError(f"{field} must be a plain decimal string such as 0.01 or 150, not {text!r}")
    return Fraction(Decimal(text))


def _positive(field: str, text: str) -> Fraction:
    value = _parse(field, text)
    if value <= 0:
        raise DefinitionError(f"{field} must be greater than 0, not {text}")
    return value


def _in_units(field: str, text: str, value: Fraction, unit: Fraction, unit_name: str) -> int:
    """`value` (parsed from `text`) as a whole number of `unit`s, or an error naming the grid."""
    count = value / unit
    if count.denominator != 1:
        raise GridError(f"{field} {text} is not a multiple of {unit_name}")
    return _fits_long(field, count.numerator)


def _in_atoms(field: str, text: str, value: Fraction, asset: dict) -> int:
    atom = Fraction(1, 10 ** asset["decimals"])
    return _in_units(field, text, value, atom, f"one {asset['symbol']} atom ({_format(atom)})")


def _fee_ppm(field: str, text: str) -> int:
    value = _parse(field, text)
    if value > MAX_FEE:
        raise DefinitionError(f"{field} {text} is above the maximum {_format(MAX_FEE)} (10%)")
    ppm = value * PPM
    if ppm.denominator != 1:
        raise GridError(f"{field} {text} is not a multiple of 1 ppm (0.000001)")
    return ppm.numerator


def _fits_long(field: str, value: int) -> int:
    if value > MAX_LONG:
        raise DefinitionError(f"{field} is too large: {value} does not fit a 64-bit integer")
    return value


def _non_negative(field: str, value: int) -> int:
    if type(value) is not int or value < 0:
        raise DefinitionError(f"{field} must be a whole number, at least 0, not {value!r}")
    return value


def _format(value: Fraction) -> str:
    """The output format (see the module doc) of a non-negative value with a finite decimal form."""
    return _scaled(*_as_scaled(value))


def _as_scaled(value: Fraction) -> tuple[int, int]:
    """A value with a finite decimal form as (digits, places): value = digits × 10^-places."""
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    return (value * 10**places).numerator, places


def _scaled(digits: int, places: int) -> str:
    """digits × 10^-places, non-negative, in the output format."""
    if not places:
        return str(digits)
    whole, fraction = divmod(digits, 10**places)
    if not fraction:
        return str(whole)
    return f"{whole}.{fraction:0{places}d}".rstrip("0")


@lru_cache(maxsize=4096)
def _grid_unit(text: str) -> Fraction:
    """A market's tick or step (valid: checked when the market was made), parsed once."""
    return _parse("unit", text)


@lru_cache(maxsize=4096)
def _grid_scale(text: str) -> tuple[int, int]:
    return _as_scaled(_grid_unit(text))
