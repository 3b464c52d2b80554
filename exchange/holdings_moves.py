"""Growing the partitions moves the asset reports' holdings with their accounts.

The read app's asset-reports table (streams/asset_reports.py) keeps each account's holding of an
asset on the account's partition, and one report per partition summing them. When
`exchange partitions grow` sends accounts to new partitions, their holdings go too, and every
report's holdings and fee income are counted again from the holdings on its partition. Deposits
and withdrawals stay in the report that counted them: only their sum over the partitions means
anything. A report's offsets name positions on its own input partitions, which do not move, and a
new partition's report starts with none.

Worked out from where the rows are, like the accounts' moves, so running it again after an
interrupted run finishes the job rather than counting twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from schemas.codec import codec
from schemas.topics import FEE_ACCOUNT, account_partition
from streams.asset_reports import NOTHING, new_report, new_totals, record_of, report_key


@dataclass
class HoldingMoves:
    writes: dict[int, list[tuple[str, dict]]] = field(default_factory=dict)  # partition -> rows: holdings, report last
    deletes: dict[int, list[str]] = field(default_factory=dict)  # old partition -> holding keys
    moved: int = 0


def _decode(key: str, raw: bytes) -> dict:
    return codec.decode_as(record_of(key), raw)


def plan_holding_moves(live: dict[int, dict[str, bytes]], partitions: int,
                       decode: Callable[[str, bytes], dict] = _decode) -> HoldingMoves:
    """What to write and delete so every holding lives on its account's partition and every report
    counts the holdings on its own. `live`: the changelog's rows, partition -> key -> encoded."""
    rows = {p: {key: decode(key, raw) for key, raw in keyed.items()} for p, keyed in live.items()}
    reports = {p: keyed.get(report_key(p)) or new_report(p) for p, keyed in rows.items()}
    placed: dict[int, dict[str, dict]] = {}  # partition -> holding key -> holding, where each belongs
    moves = HoldingMoves()
    for partition in sorted(rows):
        report = reports[partition]
        for key, row in rows[partition].items():
            if record_of(key) == "exchange.AssetReport":
                continue
            target = account_partition(row["account"], partitions)
            if target == partition:
                placed.setdefault(partition, {}).setdefault(key, row)
                continue
            counted = row["total"] if row["offset"] <= report["balances_offset"] else row["counted"]
            moved = {**row, "total": counted, "offset": NOTHING, "counted": counted}
            placed.setdefault(target, {})[key] = rows.get(target, {}).get(key, moved)  # copied already: as is
            moves.deletes.setdefault(partition, []).append(key)
            moves.moved += 1
    if not moves.moved:
        return moves
    for partition in sorted(set(reports) | set(placed)):
        report = reports.get(partition) or new_report(partition)
        holdings: dict[str, int] = {}
        fees: dict[str, int] = {}
        copies = []
        for key, row in placed.get(partition, {}).items():
            counted = row["total"] if row["offset"] <= report["balances_offset"] else row["counted"]
            holdings[row["asset"]] = holdings.get(row["asset"], 0) + counted
            if row["account"] == FEE_ACCOUNT:
                fees[row["asset"]] = fees.get(row["asset"], 0) + counted
            if key not in rows.get(partition, {}):
                copies.append((key, row))
        totals = {t["asset"]: dict(t) for t in report["assets"]}
        for asset in set(totals) | set(holdings):
            t = totals.setdefault(asset, new_totals(asset))
            t["holdings"], t["fee_income"] = holdings.get(asset, 0), fees.get(asset, 0)
        recounted = {**report, "assets": [totals[a] for a in sorted(totals)]}
        moves.writes[partition] = [*copies, (report_key(partition), recounted)]
    return moves
