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

import dataclasses
from typing import Any, Mapping, cast

from schemas.records import (
    CancelAll,
    CancelOrder,
    Command,
    CommandResult,
    Deposit,
    PlaceOrder,
    SettlementBatch,
    SettleWithdrawal,
    Withdraw,
)
from schemas.topics import (
    BALANCES,
    COMMAND_RESULTS,
    COMMANDS,
    ORDERS,
    REPLIES,
    account_partition,
    reply_partition,
)
from schemas.vocabulary import (
    CANCEL,
    CANCEL_ALL,
    DEPOSIT,
    DUPLICATE_CLIENT_ORDER_ID,
    MONEY,
    ORDER_COMMANDS,
    PLACE,
    SETTLE_WITHDRAWAL,
    UNKNOWN_ASSET,
    UNKNOWN_MARKET,
    WITHDRAW,
    result_kind,
)

from .account import Account, LedgerError, copy_row, new_state
from .outputs import ROWS_FIRST, Decided, Outgoing, StageResult
from .pending_rows import PendingRows, Rows


class AccountsStage:
    """Decides batches of exchange.commands and exchange.settlements messages (see batch.py)."""

    order = ROWS_FIRST
    refusals = (LedgerError, KeyError)

    def __init__(self, table: Mapping[str, dict], markets: Mapping[str, dict], assets: Mapping[str, dict],
                 partitions: int) -> None:
        self.table = table  # the durable rows
        self.rows: Rows = table  # what decisions read: the table and the batch's rows so far
        self.markets = markets
        self.assets = assets
        self.partitions = partitions
        self.now_ms = 0
        self._pending = PendingRows(table, copy_row)
        self._messages: list[Outgoing] = []
        self._undelivered: set[str] = set()  # accounts whose outbox holds this batch's outputs
        self._written: set[str] = set()  # accounts with rows in this batch
        self._fresh: dict[int, _Forwards] = {}  # source partition -> forwards merged over the batch

    def begin(self, now_ms: int) -> None:
        """Start a batch of messages whose rows are written, then outputs sent, together.

        An account's outbox is emptied by its first decision of a batch (what it held was
        delivered with the previous batch) and only added to after that; likewise only holds
        released before the batch are deleted in it.
        """
        self.now_ms = now_ms
        self.rows = self._pending = PendingRows(self.table, copy_row)
        self._messages = []
        self._undelivered = set()
        self._written = set()
        self._fresh = {}

    def decide(self, message, record: Any) -> None:
        """One exchange.commands or exchange.settlements message of the batch."""
        if message.topic == COMMANDS.name:
            result = self.on_commands(message.partition, message.offset, record["commands"], self.now_ms)
        else:
            result = self.on_settlements(record, self.now_ms, message.offset)
        self._pending.stage(message.partition, result.rows)
        self._messages.extend(result.messages)

    def end(self) -> Decided:
        """The batch's rows per partition and its messages, the merged forwards last: one per
        market per source partition (see `_forward`)."""
        messages = self._messages
        for partition, fresh in self._fresh.items():
            messages.extend(fresh.messages(partition))
        self._messages, self._fresh = [], {}
        return Decided(self._pending.by_partition, messages)

    def _load(self, account_id: str) -> Account:
        state = self.rows.get(account_id)
        return Account(state if state is not None else new_state(account_id), self.rows,
                       released_durable=account_id not in self._written)

    def _write(self, account: Account, result: StageResult) -> None:
        result.rows.update(account.row_writes())
        self._written.add(account.account_id)

    # -- exchange.commands ----------------------------------------------------------------

    def on_commands(self, partition: int, offset: int, commands: list[Command], now_ms: int) -> StageResult:
        """Decide (or, on a replay, re-send) every command of one exchange.commands message."""
        result = StageResult()
        accounts: dict[str, Account] = {}
        decided: set[str] = set()
        forwards: dict[str, list[Command]] = {}
        replayed = False
        for command in commands:
            account_id = command["account"]
            account = accounts.get(account_id) or accounts.setdefault(account_id, self._load(account_id))
            state = account.state
            if account_id not in decided and state["last_command_offset"] >= offset:
                replayed = True
                if offset >= state["undelivered_from"]:  # otherwise a later write proved it delivered
                    self._emit(account, command, state["refused"].get(command["command_id"]), forwards, result)
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
            self._emit(account, command, reason, forwards, result)
        for account_id in decided:
            account = accounts[account_id]
            account.state["last_command_offset"] = offset
            self._write(account, result)
        self._forward(partition, offset, forwards, replayed, result)
        for account_id, account in accounts.items():
            # A replay re-sends every balance: the update it may have lost is not recorded.
            assets = account.changed_assets if account_id in decided else set(account.state["balances"])
            self._balance_update(account, assets, now_ms, result)
        return result

    def _forward(self, partition: int, offset: int, forwards: dict[str, list[Command]], replayed: bool,
                 result: StageResult) -> None:
        """Send a message's accepted order commands to their markets.

        Matching applies a forward only if its source offset is above the last one it applied
        from that source partition. A message decided for the first time was never forwarded, so
        the batch's first-time messages of a partition go out together, one forward per market
        carrying the last offset of them: under load that is several input messages per forward,
        and the cost is per message. A replayed message may have been forwarded already (alone or
        with later ones, under a later offset), so it goes alone, with its own offset, and
        matching skips it if it had it. Replays come before first-time messages within a
        partition, so the order holds.
        """
        # Resolved now, so an unknown market fails this message (the worker dead-letters it)
        # before the batch's merged forwards change.
        targets = {market: (self.markets[market]["partition"], commands) for market, commands in forwards.items()}
        fresh = self._fresh.get(partition)
        if replayed:
            if fresh is not None:  # keep the partition's order (a replay after a first-time message cannot happen)
                result.messages.extend(self._fresh.pop(partition).messages(partition))
            result.messages.extend(_Forwards(offset, targets).messages(partition))
        elif fresh is None:
            self._fresh[partition] = _Forwards(offset, targets)
        else:
            fresh.add(offset, targets)

    def _decide(self, account: Account, command: Command, offset: int) -> str | None:
        """Apply a command to the account; the reason it is refused, or None."""
        kind, body = command["body"]
        if kind == PLACE:
            order = cast(PlaceOrder, body)
            return account.place(order, self.markets.get(order["market"]), offset)
        if kind in (CANCEL, CANCEL_ALL):
            # Only the book knows whether an order still rests: whether this account's hold was
            # released yet depends on timing, and a market's order flow must not.
            return None if cast(CancelOrder | CancelAll, body)["market"] in self.markets else UNKNOWN_MARKET
        money = cast(Deposit | Withdraw | SettleWithdrawal, body)
        if money["asset"] not in self.assets:
            return UNKNOWN_ASSET
        if kind == DEPOSIT:
            return account.deposit(money["asset"], money["amount"])
        if kind == WITHDRAW:
            return account.withdraw(command["command_id"], money["asset"], money["amount"])
        settle = cast(SettleWithdrawal, body)
        return account.settle_withdrawal(settle["withdrawal_id"], settle["asset"], settle["amount"],
                                         settle["completed"])

    def _emit(self, account: Account, command: Command, reason: str | None, forwards: dict[str, list[Command]],
              result: StageResult) -> None:
        """A decided command's outputs, which follow from the command and the verdict (so a
        replay makes them again from what the account row recorded): an accepted order command
        goes to its market; anything else is answered. A refused duplicate client order id also
        names the order that holds it, as the account's rows say when the answer is made."""
        kind, body = command["body"]
        if reason is None and kind in ORDER_COMMANDS:
            forwards.setdefault(cast(PlaceOrder | CancelOrder | CancelAll, body)["market"], []).append(command)
            return
        outcome = _result(command, reason, cast(dict, body).get("order_id"))
        if reason == DUPLICATE_CLIENT_ORDER_ID:
            client_order_id = cast(PlaceOrder, body)["client_order_id"]
            outcome["existing_order_id"] = account.order_of_client_id(cast(str, client_order_id))
        if kind in MONEY:
            money = cast(Deposit | Withdraw | SettleWithdrawal, body)
            outcome["asset"], outcome["amount"] = money["asset"], money["amount"]
            outcome["reference"] = money["reference"]
        if kind == SETTLE_WITHDRAWAL:
            settle = cast(SettleWithdrawal, body)
            outcome["withdrawal_id"], outcome["completed"] = settle["withdrawal_id"], settle["completed"]
        partition = account_partition(outcome["account"], self.partitions)
        result.messages.append(Outgoing(COMMAND_RESULTS, outcome["account"], outcome, partition))
        reply_to = reply_partition(command)
        if reply_to is not None:
            result.messages.append(Outgoing(REPLIES, outcome["account"], {"results": [outcome], "updates": []},
                                            reply_to))

    # -- exchange.settlements -------------------------------------------------------------

    def on_settlements(self, batch: SettlementBatch, now_ms: int, offset: int | None = None) -> StageResult:
        """Apply the fills, releases and fees of one settlement message (at `offset` of its
        partition); duplicates change nothing. Every account in it gets a balance update, and the
        last of them names the offset, which tells the read side how far settlements are applied
        (api/fresh_reads.py). Only the last: the updates go to one partition in order, so once the
        recorder has the last it has them all, while a take of the recorder that ended after the
        first would have claimed the settlement for accounts it had not recorded yet.

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
        updates = [n for n, m in enumerate(result.messages) if m.topic == BALANCES]
        if updates and offset is not None:
            last = result.messages[updates[-1]]
            named = {**last.record, "settlement_offset": offset}
            result.messages[updates[-1]] = dataclasses.replace(last, record=named)
        return result

    def _balance_update(self, account: Account, assets: set[str], now_ms: int, result: StageResult) -> None:
        if not assets:
            return
        balances = [{"asset": asset, **account.balance(asset)} for asset in sorted(assets)]
        record = {"account": account.account_id, "balances": balances, "ts": now_ms,
                  "settlement_offset": None}  # on_settlements names its last one
        partition = account_partition(account.account_id, self.partitions)
        result.messages.append(Outgoing(BALANCES, account.account_id, record, partition))


class _Forwards:
    """Accepted order commands of one source partition, per market, up to a source offset."""

    def __init__(self, offset: int, targets: dict[str, tuple[int, list[Command]]]) -> None:
        self.offset = offset
        self.targets = targets  # market -> (exchange.orders partition, commands)

    def add(self, offset: int, targets: dict[str, tuple[int, list[Command]]]) -> None:
        self.offset = offset
        for market, (partition, commands) in targets.items():
            self.targets.setdefault(market, (partition, []))[1].extend(commands)

    def messages(self, source_partition: int) -> list[Outgoing]:
        return [Outgoing(ORDERS, market, {"market": market, "source_partition": source_partition,
                                          "source_offset": self.offset, "commands": commands}, partition)
                for market, (partition, commands) in self.targets.items()]


def _result(command: Command, reason: str | None, order_id: int | None = None) -> CommandResult:
    return {"command_id": command["command_id"], "account": command["account"], "accepted": reason is None,
            "reason": reason, "order_id": order_id, "ts": command["ts"], "kind": result_kind(command["body"][0])}
