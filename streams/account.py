"""One account's money: balances per asset, a hold per open order, and the rules that move them.

Pure: it works on the account's `exchange.AccountState` record (a dict) and never does I/O, so the
accounts stage can persist the whole account as one atomic table write. Amounts are integer atoms.

A hold is taken when an order is accepted and is the most the order can ever cost: fills take from
it, and when the order ends its remainder is released. So available funds never go negative and
no fill can spend money the account does not have.
"""

from __future__ import annotations

from typing import Any

from streams.engine.fees import fee as fee_for

# Reasons a command is refused, as clients see them.
UNKNOWN_MARKET = "unknown_market"
MARKET_HALTED = "market_halted"
UNKNOWN_ASSET = "unknown_asset"
INVALID_AMOUNT = "invalid_amount"
INVALID_ORDER = "invalid_order"
BELOW_MIN_NOTIONAL = "below_min_notional"
MARKET_BUY_NEEDS_FUNDS = "market_buy_needs_quote_quantity"
INSUFFICIENT_FUNDS = "insufficient_funds"
DUPLICATE_ORDER_ID = "duplicate_order_id"
DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"


class LedgerError(RuntimeError):
    """A settlement that cannot apply (no such hold, or more than it holds): a bug upstream."""


def new_state(account: str) -> dict[str, Any]:
    return {"account": account, "balances": {}, "holds": {}, "last_command_offset": -1,
            "settled_seq": {}, "deposited": {}, "outbox": []}


class Account:
    __slots__ = ("state", "changed_assets")

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.changed_assets: set[str] = set()

    @property
    def account_id(self) -> str:
        return self.state["account"]

    def balance(self, asset: str) -> dict[str, int]:
        """The asset's balance, read-only: an asset never moved stays out of the state."""
        return self.state["balances"].get(asset) or {"available": 0, "held": 0}

    def _move(self, asset: str, available: int = 0, held: int = 0) -> None:
        balance = self.state["balances"].setdefault(asset, {"available": 0, "held": 0})
        balance["available"] += available
        balance["held"] += held
        self.changed_assets.add(asset)

    # -- money in and out -------------------------------------------------------------------

    def deposit(self, asset: str, amount: int) -> str | None:
        if amount <= 0:
            return INVALID_AMOUNT
        self._move(asset, available=amount)
        deposited = self.state["deposited"]
        deposited[asset] = deposited.get(asset, 0) + amount
        return None

    def withdraw(self, asset: str, amount: int) -> str | None:
        if amount <= 0:
            return INVALID_AMOUNT
        if self.balance(asset)["available"] < amount:
            return INSUFFICIENT_FUNDS
        self._move(asset, available=-amount)
        deposited = self.state["deposited"]
        deposited[asset] = deposited.get(asset, 0) - amount
        return None

    # -- orders ------------------------------------------------------------------------------

    def place(self, place: dict[str, Any], market: dict[str, Any] | None) -> str | None:
        """Hold the funds an order needs, or say why not."""
        if market is None:
            return UNKNOWN_MARKET
        if market["status"] != "open":
            return MARKET_HALTED
        holds = self.state["holds"]
        if str(place["order_id"]) in holds:
            return DUPLICATE_ORDER_ID
        client_id = place.get("client_order_id")
        if client_id is not None and any(h["client_order_id"] == client_id for h in holds.values()):
            return DUPLICATE_CLIENT_ORDER_ID
        need = required_hold(place, market)
        if isinstance(need, str):
            return need
        asset, amount = need
        if self.balance(asset)["available"] < amount:
            return INSUFFICIENT_FUNDS
        self._move(asset, available=-amount, held=amount)
        holds[str(place["order_id"])] = {"market": market["symbol"], "asset": asset, "amount": amount,
                                         "client_order_id": client_id}
        return None

    # -- settlements from the matching stage ---------------------------------------------------

    def settle(self, market: dict[str, Any], item: dict[str, Any]) -> bool:
        """Apply one settlement unless already applied; True if it changed anything."""
        settled = self.state["settled_seq"]
        symbol = market["symbol"]
        if item["seq"] <= settled.get(symbol, 0):
            return False
        kind = item["kind"]
        if kind == "fee":
            self._move(market["quote"], available=item["fee"])
        else:
            hold = self.state["holds"].get(str(item["order_id"]))
            if hold is None:
                raise LedgerError(f"{self.account_id}: settlement {item} for an order without a hold")
            if kind == "fill":
                self._fill(market, hold, item)
            else:
                del self.state["holds"][str(item["order_id"])]
                self._move(hold["asset"], available=hold["amount"], held=-hold["amount"])
        settled[symbol] = item["seq"]
        return True

    def _fill(self, market: dict[str, Any], hold: dict[str, Any], item: dict[str, Any]) -> None:
        if item["side"] == "buy":
            spent = item["quote"] + item["fee"]
            if spent > hold["amount"]:
                raise LedgerError(f"{self.account_id}: fill {item} spends more than its hold {hold}")
            hold["amount"] -= spent
            self._move(market["quote"], held=-spent)
            self._move(market["base"], available=item["base"])
        else:
            if item["base"] > hold["amount"]:
                raise LedgerError(f"{self.account_id}: fill {item} sells more than its hold {hold}")
            hold["amount"] -= item["base"]
            self._move(market["base"], held=-item["base"])
            self._move(market["quote"], available=item["quote"] - item["fee"])


def required_hold(place: dict[str, Any], market: dict[str, Any]) -> tuple[str, int] | str:
    """(asset, amount) an order must hold, or the reason it cannot be placed.

    A limit buy holds its notional plus the largest fee it could pay. Fees are rounded up per
    fill, and an order fills at most once per step, so on top of the rounded-up fee on the whole
    notional it may pay up to one atom per step more. A market buy must name the funds it may
    spend (`quote_quantity`, fees included): sized in base only, its cost is unknown until it
    trades, and holding everything available would make every other order's fate a race.
    """
    price, qty, funds = place.get("price"), place.get("quantity"), place.get("quote_quantity")
    if qty is not None and not (isinstance(qty, int) and qty > 0):
        return INVALID_ORDER
    if place["type"] == "limit":
        if not (isinstance(price, int) and price > 0 and qty is not None):
            return INVALID_ORDER
        notional = price * qty * market["quote_per_tick_step"]
        if notional < market["min_notional"]:
            return BELOW_MIN_NOTIONAL
        if place["side"] == "sell":
            return market["base"], qty * market["base_per_step"]
        rate = max(market["maker_fee_ppm"], market["taker_fee_ppm"])
        worst_fee = fee_for(notional, rate) + (qty if rate else 0)
        return market["quote"], notional + worst_fee
    if price is not None:
        return INVALID_ORDER
    if place["side"] == "sell":
        return (market["base"], qty * market["base_per_step"]) if qty is not None else INVALID_ORDER
    if funds is None:
        return MARKET_BUY_NEEDS_FUNDS
    return (market["quote"], funds) if isinstance(funds, int) and funds > 0 else INVALID_ORDER
