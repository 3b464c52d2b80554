"""The accounts stage: decides each command once against the account's funds, applies settlements.

It reads `exchange.commands` and `exchange.settlements` (both partitioned by account)
and owns the accounts table (see account.py for its rows). Pure: rows come from a mapping (the
Faust table in a worker, a dict in tests) and the result says what to write and what to send.

Why decisions are recorded: the stage interleaves two input topics, and a replay after a crash
would interleave them differently, so deciding a command again could give another answer (a
settlement in between frees funds). So the worker writes the row, recording the decisions whose
outputs are not yet delivered (from `undelivered_from` on, accepted unless `refused` names a
reason), makes it durable, and only then sends the outputs. A replayed command whose row already
records it (`last_command_offset`) is not decided again; its outputs are made again from the
command and the recorded verdict, and downstream drops the duplicates: matching by (source
partition, source offset), clients by command id. Only refusals are stored, not outputs: an
account row is written at every settlement, and outputs kept in it cost a busy worker a
millisecond per row to encode.
"""

from __future__ import annotations

from typing import Any, Mapping

from schemas.topics import BALANCES, COMMAND_RESULTS, ORDERS, account_partition

from .account import UNKNOWN_ASSET, UNKNOWN_MARKET, Account, new_state
from .outputs import Outgoing, StageResult

PLACE, CANCEL, CANCEL_ALL = "exchange.PlaceOrder", "exchange.CancelOrder", "exchange.CancelAll"
DEPOSIT, WITHDRAW, SETTLE_WITHDRAWAL = "exchange.Deposit", "exchange.Withdraw", "exchange.SettleWithdrawal"
MONEY = (DEPOSIT, WITHDRAW, SETTLE_WITHDRAWAL)


class AccountsStage:
    def __init__(self, rows: Mapping[str, dict], markets: Mapping[str, dict], assets: Mapping[str, dict],
                 partitions: int) -> None:
        self.rows = rows
        self.markets = markets
        self.assets = assets
        self.partitions = partitions
        self._undelivered: set[str] = set()  # accounts whose outbox holds this batch's outputs
        self._written: set[str] = set()  # accounts with rows in this batch

    def begin_batch(self, rows: Mapping[str, dict]) -> None:
        """Start a batch of messages whose rows are written, then outputs sent, together.

        An account's outbox is emptied by its first decision of a batch (what it held was
        delivered with the previous batch) and only added to after that; likewise only holds
        released before the batch are deleted in it.
        """
        self.rows = rows
        self._undelivered = set()
        self._written = set()

    def _load(self, account_id: str) -> Account:
        state = self.rows.get(account_id)
        return Account(state if state is not None else new_state(account_id), self.rows,
                       released_durable=account_id not in self._written)

    def _write(self, account: Account, result: StageResult) -> None:
        result.rows.update(account.row_writes())
        self._written.add(account.account_id)

    # -- exchange.commands ----------------------------------------------------------------

    def on_commands(self, partition: int, offset: int, commands: list[dict], now_ms: int) -> StageResult:
        """Decide (or, on a replay, re-send) every command of one exchange.commands message."""
        result = StageResult()
        accounts: dict[str, Account] = {}
        decided: set[str] = set()
        forwards: dict[str, list[dict]] = {}
        for command in commands:
            account_id = command["account"]
            account = accounts.get(account_id) or accounts.setdefault(account_id, self._load(account_id))
            state = account.state
            if account_id not in decided and state["last_command_offset"] >= offset:
                if offset >= state["undelivered_from"]:  # otherwise a later write proved it delivered
                    self._emit(command, state["refused"].get(command["command_id"]), forwards, result)
                    # Sent again with this batch: a later decision in it must keep the verdicts.
                    self._undelivered.add(account_id)
                continue
            if account_id not in decided:
                decided.add(account_id)
                if account_id not in self._undelivered:
                    self._undelivered.add(account_id)
                    state["undelivered_from"] = offset  # what came before went out with an earlier batch
                    state["refused"] = {}
            reason = self._decide(account, command, offset)
            if reason is not None:
                state["refused"][command["command_id"]] = reason
            self._emit(command, reason, forwards, result)
        for account_id in decided:
            account = accounts[account_id]
            account.state["last_command_offset"] = offset
            self._write(account, result)
        for market, batch in forwards.items():
            record = {"market": market, "source_partition": partition, "source_offset": offset, "commands": batch}
            result.messages.append(Outgoing(ORDERS, market, record, self.markets[market]["partition"]))
        for account_id, account in accounts.items():
            # A replay re-sends every balance: the update it may have lost is not recorded.
            assets = account.changed_assets if account_id in decided else set(account.state["balances"])
            self._balance_update(account, assets, now_ms, result)
        return result

    def _decide(self, account: Account, command: dict, offset: int) -> str | None:
        """Apply a command to the account; the reason it is refused, or None."""
        kind, body = command["body"]
        if kind == PLACE:
            return account.place(body, self.markets.get(body["market"]), offset)
        if kind in (CANCEL, CANCEL_ALL):
            # Only the book knows whether an order still rests: whether this account's hold was
            # released yet depends on timing, and a market's order flow must not.
            return None if body["market"] in self.markets else UNKNOWN_MARKET
        if body["asset"] not in self.assets:
            return UNKNOWN_ASSET
        if kind == DEPOSIT:
            return account.deposit(body["asset"], body["amount"])
        if kind == WITHDRAW:
            return account.withdraw(command["command_id"], body["asset"], body["amount"])
        return account.settle_withdrawal(body["withdrawal_id"], body["asset"], body["amount"], body["completed"])

    def _emit(self, command: dict, reason: str | None, forwards: dict[str, list[dict]], result: StageResult) -> None:
        """A decided command's outputs, which follow from the command and the verdict alone (so a
        replay makes them again from what the account row recorded): an accepted order command
        goes to its market; anything else is answered."""
        kind, body = command["body"]
        if reason is None and kind in (PLACE, CANCEL, CANCEL_ALL):
            forwards.setdefault(body["market"], []).append(command)
            return
        outcome = _result(command, reason, body.get("order_id"))
        if kind in MONEY:
            outcome.update(asset=body["asset"], amount=body["amount"], reference=body["reference"])
        if kind == SETTLE_WITHDRAWAL:
            outcome.update(withdrawal_id=body["withdrawal_id"], completed=body["completed"])
        partition = account_partition(outcome["account"], self.partitions)
        result.messages.append(Outgoing(COMMAND_RESULTS, outcome["account"], outcome, partition))

    # -- exchange.settlements -------------------------------------------------------------

    def on_settlements(self, batch: dict, now_ms: int) -> StageResult:
        """Apply the fills, releases and fees of one settlement message; duplicates change nothing.

        Raises LedgerError (and changes nothing) if an item cannot apply.
        """
        result = StageResult()
        market = self.markets[batch["market"]]
        for settlements in batch["accounts"]:
            account = self._load(settlements["account"])
            changed = False
            for item in settlements["items"]:
                changed |= account.settle(market, item)
            if changed:
                self._write(account, result)
            # Sent even for a duplicate: the first time may have been lost to a crash.
            assets = account.changed_assets or {market["base"], market["quote"]}
            self._balance_update(account, assets, now_ms, result)
        return result

    def _balance_update(self, account: Account, assets: set[str], now_ms: int, result: StageResult) -> None:
        if not assets:
            return
        balances = [{"asset": asset, **account.balance(asset)} for asset in sorted(assets)]
        record = {"account": account.account_id, "balances": balances, "ts": now_ms}
        partition = account_partition(account.account_id, self.partitions)
        result.messages.append(Outgoing(BALANCES, account.account_id, record, partition))


def _result(command: dict, reason: str | None, order_id: int | None = None) -> dict[str, Any]:
    return {"command_id": command["command_id"], "account": command["account"], "accepted": reason is None,
            "reason": reason, "order_id": order_id, "ts": command["ts"], "kind": command["body"][0].split(".")[-1]}
