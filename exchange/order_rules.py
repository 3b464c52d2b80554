"""Which fields each kind of order needs, and the minimum notional, in one place.

The API checks a request against these rules and answers 400 naming the field; the accounts stage
checks a command (which may come straight from Kafka) and refuses it with the rule's reason; the
OpenAPI document describes the same rules (`FIELDS`). The grid itself (a price on the tick, a
quantity on the step) is checked where decimals become integers (exchange/reference.py).

Amounts here are integers in the market's units (ticks, steps, quote atoms), or None when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.vocabulary import INVALID_ORDER, MARKET_BUY_NEEDS_FUNDS

# What each kind of order takes: the fields it needs, and those it must not have.
FIELDS = {
    ("limit", "buy"): {"needs": ("price", "quantity"), "refuses": ("quote_quantity",)},
    ("limit", "sell"): {"needs": ("price", "quantity"), "refuses": ("quote_quantity",)},
    # A market buy names the most quote it may spend (fees included); a quantity caps it further.
    ("market", "buy"): {"needs": ("quote_quantity",), "refuses": ("price",)},
    ("market", "sell"): {"needs": ("quantity",), "refuses": ("price", "quote_quantity")},
}
POST_ONLY_NEEDS = ("limit", "GTC")  # post-only is for resting orders only


@dataclass(frozen=True)
class Breach:
    field: str
    reason: str  # the accounts stage's refusal
    message: str  # for a person
    missing: bool = False  # the field is absent (the API's `missing_field`)


def breach(type_: str, side: str, price: int | None, quantity: int | None, quote_quantity: int | None,
           post_only: bool = False, time_in_force: str = "GTC") -> Breach | None:
    """The first rule an order breaks, or None."""
    values = {"price": price, "quantity": quantity, "quote_quantity": quote_quantity}
    rules = FIELDS[(type_, side)]
    for field in rules["refuses"]:
        if values[field] is not None:
            return Breach(field, INVALID_ORDER, f"a {type_} {side} order has no {field}")
    for field in rules["needs"]:
        if values[field] is None:
            reason = MARKET_BUY_NEEDS_FUNDS if field == "quote_quantity" else INVALID_ORDER
            what = ": the most quote it may spend" if field == "quote_quantity" else ""
            return Breach(field, reason, f"a {type_} {side} order needs {field}{what}", missing=True)
    for field, value in values.items():
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return Breach(field, INVALID_ORDER, f"{field} must be above zero")
    if post_only and (type_, time_in_force) != POST_ONLY_NEEDS:
        return Breach("post_only", INVALID_ORDER, "post_only applies to GTC limit orders only")
    return None


def notional(market: dict[str, Any], price: int, quantity: int) -> int:
    """Price times quantity in quote atoms."""
    return price * quantity * market["quote_per_tick_step"]


def below_min_notional(market: dict[str, Any], price: int | None, quantity: int | None) -> bool:
    """A priced order worth less than the market's minimum (a market order is checked as it fills)."""
    return price is not None and quantity is not None and notional(market, price, quantity) < market["min_notional"]
