"""Operator reports: every asset's money, held, brought in and taken out. Pure: no Faust, no I/O.

Per partition of the account-keyed topics, a report (`AssetReport`, table key `p|<partition>`)
counts for each asset what the partition's accounts hold (available + held, from
exchange.balances), the fee account's share of it, credited deposits and completed withdrawals
(from exchange.command-results). Money enters only by a deposit and leaves only by a withdrawal,
so summed over the partitions every asset's holdings equal deposits less withdrawals: the
reconciliation the operator's reports and alert check.

A balance update carries an account's new totals, not the change, so the stage keeps each
account's last total (`AccountHolding`, key `h|<account>|<asset>`) and counts the difference.

Replays: the report remembers the last offset of each input it counted, and what is at or before
it is skipped. A take writes its holdings before its report, in one partition's changelog, so a
crash can leave holdings written whose report is not; such a holding (its offset past the
report's) still says what the report counts for it (`counted`), and that is where the replay
starts from. Like the market reports, changed reports are sent before the rows are written; a
crash in between sends them again, the same.
"""

from __future__ import annotations

from typing import Any, Mapping

from schemas.records import AccountHolding, AssetReport, AssetTotals
from schemas.topics import ASSET_REPORTS, BALANCES, FEE_ACCOUNT
from schemas.vocabulary import DEPOSIT, SETTLE_WITHDRAWAL, result_kind

from .outputs import OUTPUTS_FIRST, Decided, Outgoing

NOTHING = -1  # no offset counted yet


def report_key(partition: int) -> str:
    return f"p|{partition}"


def holding_key(account: str, asset: str) -> str:
    return f"h|{account}|{asset}"


def record_of(key: str) -> str:
    return "exchange.AssetReport" if key.startswith("p|") else "exchange.AccountHolding"


def new_totals(asset: str) -> AssetTotals:
    return {"asset": asset, "holdings": 0, "fee_income": 0, "deposits": 0, "withdrawals": 0}


def new_report(partition: int) -> AssetReport:
    return {"partition": partition, "assets": [], "balances_offset": NOTHING, "results_offset": NOTHING, "ts": 0}


class _Report:
    """A partition's report being counted: its totals by asset."""

    def __init__(self, row: AssetReport) -> None:
        self.partition = row["partition"]
        self.totals = {t["asset"]: dict(t) for t in row["assets"]}
        self.balances_offset, self.results_offset, self.ts = row["balances_offset"], row["results_offset"], row["ts"]
        self.stored_balances_offset = row["balances_offset"]  # what holdings written with it are counted to

    def add(self, asset: str, field: str, atoms: int) -> None:
        totals = self.totals.setdefault(asset, new_totals(asset))
        totals[field] += atoms

    def row(self) -> AssetReport:
        return {"partition": self.partition, "assets": [self.totals[a] for a in sorted(self.totals)],  # type: ignore[misc]
                "balances_offset": self.balances_offset, "results_offset": self.results_offset, "ts": self.ts}


class AssetReportsStage:
    order = OUTPUTS_FIRST
    refusals = ()  # every decoded message can be counted

    def __init__(self, table: Mapping[str, dict]) -> None:
        self.table = table
        self.begin(0)

    def begin(self, now_ms: int) -> None:
        self._reports: dict[int, _Report] = {}
        self._holdings: dict[int, dict[str, AccountHolding]] = {}

    def _report(self, partition: int) -> _Report:
        if partition not in self._reports:
            self._reports[partition] = _Report(self.table.get(report_key(partition)) or new_report(partition))
        return self._reports[partition]

    def _holding(self, report: _Report, account: str, asset: str) -> AccountHolding:
        held = self._holdings.setdefault(report.partition, {})
        key = holding_key(account, asset)
        if key not in held:
            stored = self.table.get(key)
            if stored is None:
                counted = 0
            elif stored["offset"] <= report.stored_balances_offset:
                counted = stored["total"]
            else:
                counted = stored["counted"]  # written by a take whose report was not: not counted
            offset = NOTHING if stored is None else stored["offset"]
            held[key] = {"account": account, "asset": asset, "total": counted, "offset": offset, "counted": counted}
        return held[key]

    def decide(self, message, record: Any) -> None:
        report = self._report(message.partition)
        if message.topic == BALANCES.name:
            if message.offset <= report.balances_offset:
                return  # counted before a crash
            for balance in record["balances"]:
                holding = self._holding(report, record["account"], balance["asset"])
                change = balance["available"] + balance["held"] - holding["total"]
                report.add(balance["asset"], "holdings", change)
                if record["account"] == FEE_ACCOUNT:
                    report.add(balance["asset"], "fee_income", change)
                holding["total"], holding["offset"] = holding["total"] + change, message.offset
            report.balances_offset = message.offset
        else:
            if message.offset <= report.results_offset:
                return
            kind, asset, amount = record.get("kind"), record.get("asset"), record.get("amount")
            if record["accepted"] and asset is not None and amount is not None:
                if kind == result_kind(DEPOSIT):
                    report.add(asset, "deposits", amount)
                elif kind == result_kind(SETTLE_WITHDRAWAL) and record.get("completed"):
                    report.add(asset, "withdrawals", amount)
            report.results_offset = message.offset
        report.ts = max(report.ts, record["ts"])

    def end(self) -> Decided:
        rows: dict[int, dict[str, dict | None]] = {}
        messages = []
        for partition, report in self._reports.items():
            row = report.row()
            stored = self.table.get(report_key(partition))
            if stored is not None and (stored["balances_offset"], stored["results_offset"]) == (
                    row["balances_offset"], row["results_offset"]):
                continue  # nothing new: all of it a replay
            # Holdings first, the report last: if the report is durable, so is every holding it counts.
            rows[partition] = {key: dict(h) for key, h in self._holdings.get(partition, {}).items()
                               if h["offset"] != NOTHING}
            rows[partition][report_key(partition)] = dict(row)
            messages.append(Outgoing(ASSET_REPORTS, str(partition), row, partition))
        return Decided(rows, messages)
