"""One account's money: balances per asset, a hold per open order, and the rules that move them.

Pure: it reads rows of the accounts table through a mapping and says which rows to write; never
I/O. Amounts are integer atoms.

A hold is taken when an order is accepted and is the most the order can ever cost: fills take from
it, and when the order ends its remainder is released. So available funds never go negative and
no fill can spend money the account does not have. A withdrawal is held the same way, from its
request until an operator settles it: completed, the funds leave; failed, they are available again.

Rows (all of one account live in its partition, so one changelog partition keeps their order):
- `<account>`: `exchange.AccountState`, balances, pending withdrawals, and what makes commands and
  settlements apply once;
- `<account>#<order id>`: `exchange.Hold`, one per open order, so an account with thousands of
  open orders still writes a few small rows per change instead of one huge one;
- `<account>#c:<client order id>`: `exchange.ClientOrder`, which order holds a client order id.

An event's rows are written with the account row last. A crash can cut the writes anywhere, so a
hold or client-id row can be durable while the account row that goes with it is not. Rows say
enough to tell: a row made by a command the account row does not count yet (`command_offset`)
does not exist, and a hold remembers the last settlement applied to it (`settled_seq`), so a
replay moves the balances again but not the hold. Ended orders' holds stay, marked `released`,
until the account's next write deletes them: until then a replayed release needs their amount.
"""

from __future__ import annotations

from typing import Any, Mapping

from exchange.order_rules import below_min_notional, breach, notional
from schemas.records import PlaceOrder, Settlement
from schemas.vocabulary import (
    BELOW_MIN_NOTIONAL,
    DUPLICATE_CLIENT_ORDER_ID,
    DUPLICATE_ORDER_ID,
    INSUFFICIENT_FUNDS,
    INVALID_AMOUNT,
    MARKET_HALTED,
    TOO_MANY_WITHDRAWALS,
    UNKNOWN_MARKET,
    UNKNOWN_WITHDRAWAL,
    WITHDRAWAL_MISMATCH,
)
from streams.engine.fees import fee as fee_for
from streams.pending_rows import Rows

# Pending withdrawals live in the account row, which is written at every fill: a bound keeps
# that row small whatever a client asks for.
MAX_PENDING_WITHDRAWALS = 50


class LedgerError(RuntimeError):
    """A settlement that cannot apply (no such hold, or more than it holds): a bug upstream."""


ACCOUNT_RECORD = "exchange.AccountState"
HOLD_RECORD = "exchange.Hold"
CLIENT_ORDER_RECORD = "exchange.ClientOrder"


def hold_key(account: str, order_id: int) -> str:
    return f"{account}#{order_id}"


def client_order_key(account: str, client_order_id: str) -> str:
    return f"{account}#c:{client_order_id}"


def account_of(key: str) -> str:
    """The account an accounts-table row belongs to, from its key."""
    return key.split("#", 1)[0]


def record_of(key: str) -> str:
    """The record type of an accounts-table row, from its key (account ids never contain '#')."""
    if "#" not in key:
        return ACCOUNT_RECORD
    return CLIENT_ORDER_RECORD if "#c:" in key else HOLD_RECORD


def copy_row(key: str, row: dict[str, Any]) -> dict[str, Any]:
    """A copy of an accounts-table row that the rules here can change without touching `row`.

    Only what they change in place is copied: balances, the per-market and per-asset counters,
    and the collections they add to. Released-order notes are never changed once made, so the
    list's items are shared.
    """
    if record_of(key) != ACCOUNT_RECORD:
        return dict(row)  # holds and client-id rows are flat
    return {**row, "balances": {asset: dict(balance) for asset, balance in row["balances"].items()},
            "settled_seq": dict(row["settled_seq"]), "deposited": dict(row["deposited"]),
            "refused": dict(row["refused"]), "released": list(row["released"]),
            "withdrawals": dict(row["withdrawals"])}


def counted(row: dict[str, Any], state: dict[str, Any]) -> bool:
    """Whether the account row counts the command that made a hold or client-id row; if not, the
    row was left by a decision cut short by a crash and does not exist."""
    return row["command_offset"] <= state["last_command_offset"]


def new_state(account: str) -> dict[str, Any]:
    return {"account": account, "balances": {}, "last_command_offset": -1, "settled_seq": {}, "deposited": {},
            "undelivered_from": -1, "refused": {}, "released": [], "withdrawals": {}}


class Account:
    __slots__ = ("state", "rows", "changed_assets", "writes", "_released_before")

    def __init__(self, state: dict[str, Any], rows: Rows, released_durable: bool = True) -> None:
        """`released_durable`: the state was read from the table, not from a batch's unwritten
        rows, so the holds it lists as released can go."""
        self.state = state
        self.rows = rows
        self.changed_assets: set[str] = set()
        self.writes: dict[str, dict | None] = {}  # hold and client-id rows changed, by key
        self._released_before = state["released"] if released_durable else []
        if released_durable:
            state["released"] = []

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

    def _row(self, key: str) -> dict | None:
        """A hold or client-id row as the committed account sees it (see the module doc)."""
        if key in self.writes:
            return self.writes[key]
        row = self.rows.get(key)
        if row is not None and not counted(row, self.state):
            self.writes[key] = None  # left by a decision cut short: it is made again or dropped
            return None
        return row

    def hold(self, order_id: int) -> dict | None:
        return self._row(hold_key(self.account_id, order_id))

    def order_of_client_id(self, client_id: str) -> int | None:
        """The order that holds this client order id now, if one does."""
        index = self._row(client_order_key(self.account_id, client_id))
        return None if index is None else index["order_id"]

    def row_writes(self) -> dict[str, dict | None]:
        """Rows to write for this account, the account row last; empty if nothing changed."""
        writes: dict[str, dict | None] = {}
        for released in self._released_before:  # their releases are durable now
            writes[hold_key(self.account_id, released["order_id"])] = None
            client_id = released["client_order_id"]
            if client_id is not None:
                key = client_order_key(self.account_id, client_id)
                index = self._row(key)
                if index is not None and index["order_id"] == released["order_id"]:
                    writes[key] = None
        writes.update(self.writes)
        writes[self.account_id] = self.state
        return writes

    # -- money in and out -------------------------------------------------------------------

    def deposit(self, asset: str, amount: int) -> str | None:
        if amount <= 0:
            return INVALID_AMOUNT
        self._move(asset, available=amount)
        deposited = self.state["deposited"]
        deposited[asset] = deposited.get(asset, 0) + amount
        return None

    def withdraw(self, withdrawal_id: str, asset: str, amount: int) -> str | None:
        """Hold the funds of a withdrawal until an operator says it was completed or failed."""
        if amount <= 0:
            return INVALID_AMOUNT
        if self.balance(asset)["available"] < amount:
            return INSUFFICIENT_FUNDS
        pending = self.state["withdrawals"]
        if len(pending) >= MAX_PENDING_WITHDRAWALS:
            return TOO_MANY_WITHDRAWALS
        self._move(asset, available=-amount, held=amount)
        pending[withdrawal_id] = {"asset": asset, "amount": amount}
        return None

    def settle_withdrawal(self, withdrawal_id: str, asset: str, amount: int, completed: bool) -> str | None:
        """A completed withdrawal's funds leave the exchange; a failed one's are available again."""
        pending = self.state["withdrawals"].get(withdrawal_id)
        if pending is None:
            return UNKNOWN_WITHDRAWAL  # never requested, or settled already
        if pending != {"asset": asset, "amount": amount}:
            return WITHDRAWAL_MISMATCH
        del self.state["withdrawals"][withdrawal_id]
        if completed:
            self._move(asset, held=-amount)
            deposited = self.state["deposited"]
            deposited[asset] = deposited.get(asset, 0) - amount
        else:
            self._move(asset, available=amount, held=-amount)
        return None

    # -- orders ------------------------------------------------------------------------------

    def place(self, place: PlaceOrder, market: dict[str, Any] | None, offset: int) -> str | None:
        """Hold the funds an order needs, or say why not (`offset`: the deciding command's)."""
        if market is None:
            return UNKNOWN_MARKET
        if market["status"] != "open":
            return MARKET_HALTED
        order_id = place["order_id"]
        if self.hold(order_id) is not None:
            return DUPLICATE_ORDER_ID
        client_id = place.get("client_order_id")
        if client_id is not None:
            index = self._row(client_order_key(self.account_id, client_id))
            holder = self.hold(index["order_id"]) if index is not None else None
            if holder is not None and not holder["released"]:
                return DUPLICATE_CLIENT_ORDER_ID
        need = required_hold(place, market)
        if isinstance(need, str):
            return need
        asset, amount = need
        if self.balance(asset)["available"] < amount:
            return INSUFFICIENT_FUNDS
        self._move(asset, available=-amount, held=amount)
        self.writes[hold_key(self.account_id, order_id)] = {
            "order_id": order_id, "market": market["symbol"], "asset": asset, "amount": amount,
            "client_order_id": client_id, "command_offset": offset, "settled_seq": 0, "released": False}
        if client_id is not None:
            self.writes[client_order_key(self.account_id, client_id)] = {"order_id": order_id, "command_offset": offset}
        return None

    # -- settlements from the matching stage ---------------------------------------------------

    def settle(self, market: dict[str, Any], item: Settlement) -> bool:
        """Apply one settlement unless already applied; True if it changed anything."""
        settled = self.state["settled_seq"]
        symbol = market["symbol"]
        if item["seq"] <= settled.get(symbol, 0):
            return False
        kind = item["kind"]
        if kind == "fee":
            self._move(market["quote"], available=item["fee"])
        else:
            found = self.hold(item["order_id"])
            if found is None:
                raise LedgerError(f"{self.account_id}: settlement {item} for an order without a hold")
            hold = dict(found)
            # The hold's row may have landed before a crash that lost the account row: then only
            # the balances move again.
            landed = hold["settled_seq"] >= item["seq"]
            if not landed and hold["released"]:
                raise LedgerError(f"{self.account_id}: settlement {item} for an ended order")
            if kind == "fill":
                self._fill(market, hold, item, landed)
            else:
                hold["released"] = True
                self._move(hold["asset"], available=hold["amount"], held=-hold["amount"])
                self.state["released"].append({"order_id": hold["order_id"],
                                               "client_order_id": hold["client_order_id"]})
            if not landed:
                hold["settled_seq"] = item["seq"]
                self.writes[hold_key(self.account_id, hold["order_id"])] = hold
        settled[symbol] = item["seq"]
        return True

    def _fill(self, market: dict[str, Any], hold: dict[str, Any], item: Settlement, landed: bool) -> None:
        if item["side"] == "buy":
            spent = item["quote"] + item["fee"]
            if not landed:
                if spent > hold["amount"]:
                    raise LedgerError(f"{self.account_id}: fill {item} spends more than its hold {hold}")
                hold["amount"] -= spent
            self._move(market["quote"], held=-spent)
            self._move(market["base"], available=item["base"])
        else:
            if not landed:
                if item["base"] > hold["amount"]:
                    raise LedgerError(f"{self.account_id}: fill {item} sells more than its hold {hold}")
                hold["amount"] -= item["base"]
            self._move(market["base"], held=-item["base"])
            self._move(market["quote"], available=item["quote"] - item["fee"])


def accounts_view(rows: Mapping[str, dict]) -> dict[str, dict[str, Any]]:
    """Each account's committed state with its open holds under `holds` (by order id), for checks
    and tools: rows left by cut-short decisions and holds of ended orders are left out."""
    accounts = {key: {**row, "holds": {}} for key, row in rows.items() if record_of(key) == ACCOUNT_RECORD}
    for key, row in rows.items():
        if record_of(key) != HOLD_RECORD:
            continue
        state = accounts.get(account_of(key))
        if state is not None and not row["released"] and counted(row, state):
            state["holds"][row["order_id"]] = row
    return accounts


def required_hold(place: PlaceOrder, market: dict[str, Any]) -> tuple[str, int] | str:
    """(asset, amount) an order must hold, or the reason it cannot be placed (exchange/order_rules.py:
    the same rules the API checks, for a command that may come straight from Kafka).

    A limit buy holds its notional plus the largest fee it could pay. Fees are rounded up per
    fill, and an order fills at most once per step, so on top of the rounded-up fee on the whole
    notional it may pay up to one atom per step more. A market buy must name the funds it may
    spend (`quote_quantity`, fees included): sized in base only, its cost is unknown until it
    trades, and holding everything available would make every other order's fate a race.
    """
    # Any: once the rules pass, the amounts an order's kind needs are present and positive.
    price: Any = place.get("price")
    qty: Any = place.get("quantity")
    funds: Any = place.get("quote_quantity")
    broken = breach(place["type"], place["side"], price, qty, funds, place.get("post_only", False),
                    place.get("time_in_force", "GTC"))
    if broken is not None:
        return broken.reason
    if place["type"] == "limit":
        if below_min_notional(market, price, qty):
            return BELOW_MIN_NOTIONAL
        if place["side"] == "sell":
            return market["base"], qty * market["base_per_step"]
        rate = max(market["maker_fee_ppm"], market["taker_fee_ppm"])
        cost = notional(market, price, qty)
        worst_fee = fee_for(cost, rate) + (qty if rate else 0)
        return market["quote"], cost + worst_fee
    if place["side"] == "sell":
        return market["base"], qty * market["base_per_step"]
    return market["quote"], funds
