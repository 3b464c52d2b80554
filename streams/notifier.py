"""Notifications: what happened to an account, told to its owner. Pure: no Faust, no I/O.

From exchange.order-updates: an order filled, partly filled, or ended by the exchange rather than
its owner (an IOC or FOK remainder, a market order the book ran out under, self-trade prevention,
a halted market). From exchange.command-results: a deposit credited, a withdrawal completed or
failed. Each becomes one exchange.Notification on the account's partition.

A notification's id is derived from its event (the event's time, then the order id and market
sequence, or the command id), so an event read again after a crash makes the very same
notification: whoever keeps them (the recorder, by id) keeps each once. The stage keeps no state,
so it sends and is done (outputs first, no rows).
"""

from __future__ import annotations

from typing import Any, Mapping

from exchange.reference import atoms_to_amount, steps_to_qty
from schemas.records import CommandResult, Notification, OrderUpdate
from schemas.topics import COMMAND_RESULTS, NOTIFICATIONS, account_partition
from schemas.vocabulary import (
    CANCELED,
    DEPOSIT,
    DEPOSIT_CREDITED,
    EXPIRED,
    FILLED,
    ORDER_CANCELED,
    ORDER_FILLED,
    ORDER_PARTIALLY_FILLED,
    PARTIALLY_FILLED,
    SETTLE_WITHDRAWAL,
    WITHDRAWAL_COMPLETED,
    WITHDRAWAL_FAILED,
    notification_id,
    result_kind,
)

from .outputs import OUTPUTS_FIRST, Decided, Outgoing

BY_OWNER = "user"  # an order update's reason when its owner canceled it (streams/engine/events.py)
ENDED_BECAUSE = {
    "ioc": "the rest of an immediate-or-cancel order expired",
    "fok": "a fill-or-kill order could not fill completely",
    "market": "the book ran out under a market order",
    "quote_limit": "a market buy spent its funds",
    "self_trade": "it met an order of your own (self-trade prevention)",
    "market_halted": "the market was halted",
}


class NotifierStage:
    order = OUTPUTS_FIRST
    refusals = (KeyError,)

    def __init__(self, markets: Mapping[str, dict], assets: Mapping[str, dict], partitions: int) -> None:
        self.markets, self.assets, self.partitions = markets, assets, partitions
        self._messages: list[Outgoing] = []

    def begin(self, now_ms: int) -> None:
        self._messages = []

    def decide(self, message, record: Any) -> None:
        if message.topic == COMMAND_RESULTS.name:
            notes = [money_notification(record, self.assets)]
        else:
            notes = [order_notification(update, self.markets[update["market"]]) for update in record["updates"]]
        for note in notes:
            if note is not None:
                self._messages.append(Outgoing(NOTIFICATIONS, note["account"], note,
                                               account_partition(note["account"], self.partitions)))

    def end(self) -> Decided:
        return Decided({}, self._messages)


def order_notification(u: OrderUpdate, market: dict) -> Notification | None:
    """A fill or an end the owner did not ask for; None for anything else (placed, canceled by
    the owner, refused: the owner's own request answered those)."""
    status, base = u["status"], market["base"]
    side = "Buy" if u["side"] == "buy" else "Sell"
    filled = f"{steps_to_qty(market, u['filled_quantity'])} {base}"
    if status == FILLED:
        kind, text = ORDER_FILLED, f"{side} order {u['order_id']} on {market['symbol']} filled: {filled}"
    elif status == PARTIALLY_FILLED and u.get("fills"):
        kind, text = ORDER_PARTIALLY_FILLED, (f"{side} order {u['order_id']} on {market['symbol']} "
                                                f"partly filled: {filled} so far")
    elif status in (CANCELED, EXPIRED) and (u.get("reason") or BY_OWNER) != BY_OWNER:
        reason = u.get("reason") or ""
        why = ENDED_BECAUSE.get(reason, reason)
        done = f", after {filled} filled" if u["filled_quantity"] else ""
        kind, text = ORDER_CANCELED, f"{side} order {u['order_id']} on {market['symbol']} ended: {why}{done}"
    else:
        return None
    return {"id": notification_id(u["ts"], f"o{u['order_id']}-{u['seq']}"), "account": u["account"], "kind": kind,
            "ts": u["ts"], "text": text, "order_id": u["order_id"], "market": market["symbol"], "asset": None,
            "reference": None}


def money_notification(r: CommandResult, assets: Mapping[str, dict]) -> Notification | None:
    """A deposit credited, a withdrawal completed or failed; None for anything else."""
    kind_of, asset, atoms = r.get("kind"), assets.get(r.get("asset") or ""), r.get("amount")
    if not r["accepted"] or asset is None or atoms is None:
        return None
    amount = f"{atoms_to_amount(asset, atoms)} {asset['symbol']}"
    if kind_of == result_kind(DEPOSIT):
        kind, text, reference = DEPOSIT_CREDITED, f"Deposit of {amount} credited", r["command_id"]
    elif kind_of == result_kind(SETTLE_WITHDRAWAL) and r.get("completed") is not None:
        reference = r.get("withdrawal_id") or r["command_id"]
        if r["completed"]:
            kind, text = WITHDRAWAL_COMPLETED, f"Withdrawal {reference} of {amount} completed"
        else:
            kind, text = WITHDRAWAL_FAILED, f"Withdrawal {reference} of {amount} failed; the funds are back"
    else:
        return None
    return {"id": notification_id(r["ts"], f"c{r['command_id']}"), "account": r["account"], "kind": kind,
            "ts": r["ts"], "text": text, "order_id": None, "market": None, "asset": asset["symbol"],
            "reference": reference}
