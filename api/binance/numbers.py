"""Binance's number format: decimal strings with eight decimals ("0.00000000", "150.01000000"),
the same conversions as exchange.reference's otherwise.

Clients match on these strings: python-binance's depth cache deletes a level only when its quantity
is exactly "0.00000000", so a trimmed "0" leaves dead levels in every local book. A value with more
than eight decimals (a market whose tick is finer than Binance's) keeps them all: nothing is
rounded for the sake of the format.
"""

from __future__ import annotations

from decimal import Decimal

from exchange import reference
from schemas.records import Asset, Market

PLACES = 8
ZERO = "0.00000000"


def fixed(text: str) -> str:
    """A plain decimal string with at least eight decimals: "1.5" -> "1.50000000"."""
    whole, dot, fraction = text.partition(".")
    if len(fraction) >= PLACES:
        return text
    return f"{whole}.{fraction}{'0' * (PLACES - len(fraction))}"


def ticks_to_price(market: Market, ticks: int) -> str:
    return fixed(reference.ticks_to_price(market, ticks))


def steps_to_qty(market: Market, steps: int) -> str:
    return fixed(reference.steps_to_qty(market, steps))


def atoms_to_amount(asset: Asset, atoms: int) -> str:
    return fixed(reference.atoms_to_amount(asset, atoms))


def signed_atoms_to_amount(asset: Asset, atoms: int) -> str:
    return fixed(reference.signed_atoms_to_amount(asset, atoms))


def signed_ticks_to_price(market: Market, ticks: int) -> str:
    return fixed(reference.signed_ticks_to_price(market, ticks))


def display(value: Decimal) -> str:
    """An average for display only (never money), to eight decimals."""
    return f"{value.quantize(Decimal('1e-8')):f}"
