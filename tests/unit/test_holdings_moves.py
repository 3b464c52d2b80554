"""`exchange partitions grow` moves the asset reports' holdings with their accounts and recounts
every report, from wherever the rows are."""

from __future__ import annotations

from exchange.holdings_moves import plan_holding_moves
from schemas.codec import codec
from schemas.topics import FEE_ACCOUNT, account_partition
from streams.asset_reports import holding_key, record_of, report_key

ACCOUNTS = [f"acct{i}" for i in range(12)] + [FEE_ACCOUNT]


def _live(partitions: int) -> dict[int, dict[str, bytes]]:
    """Holdings of 100 + i USDC per account, each on its partition, and a report per partition that
    counts them and 1000 USDC deposited on partition 0."""
    live: dict[int, dict[str, dict]] = {p: {} for p in range(partitions)}
    for i, account in enumerate(ACCOUNTS):
        p = account_partition(account, partitions)
        live[p][holding_key(account, "USDC")] = {"account": account, "asset": "USDC", "total": 100 + i,
                                                 "offset": 10 + i, "counted": 0}
    for p, rows in live.items():
        held = sum(r["total"] for r in rows.values())
        fees = sum(r["total"] for r in rows.values() if r["account"] == FEE_ACCOUNT)
        rows[report_key(p)] = {"partition": p, "assets": [{"asset": "USDC", "holdings": held, "fee_income": fees,
                                                          "deposits": 1000 if p == 0 else 0, "withdrawals": 0}],
                               "balances_offset": 100, "results_offset": 7, "ts": 1}
    return {p: {k: codec.encode(record_of(k), r) for k, r in rows.items()} for p, rows in live.items()}


def _applied(live: dict[int, dict[str, bytes]], moves, deletes: bool = True) -> dict[int, dict[str, bytes]]:
    after = {p: dict(rows) for p, rows in live.items()}
    for p, rows in moves.writes.items():
        after.setdefault(p, {}).update({k: codec.encode(record_of(k), r) for k, r in rows})
    for p, keys in moves.deletes.items() if deletes else ():
        for key in keys:
            after[p].pop(key)
    return after


def _reports(live) -> dict[int, dict]:
    return {p: codec.decode_as("exchange.AssetReport", rows[report_key(p)]) for p, rows in live.items()
            if report_key(p) in rows}


def _check(live, partitions: int) -> None:
    total = sum(100 + i for i in range(len(ACCOUNTS)))
    reports = _reports(live)
    assert sum(t["holdings"] for r in reports.values() for t in r["assets"]) == total
    assert sum(t["deposits"] for r in reports.values() for t in r["assets"]) == 1000
    for p, rows in live.items():
        here = [codec.decode_as("exchange.AccountHolding", raw) for k, raw in rows.items() if k.startswith("h|")]
        assert all(account_partition(h["account"], partitions) == p for h in here)
        assert sum(t["holdings"] for t in reports[p]["assets"]) == sum(h["total"] for h in here)


def test_holdings_follow_their_accounts_and_every_report_counts_its_own():
    live = _live(2)
    moves = plan_holding_moves(live, 5)
    assert moves.moved > 0
    grown = _applied(live, moves)
    _check(grown, 5)
    offsets = {p: r["balances_offset"] for p, r in _reports(grown).items()}
    assert offsets[0] == offsets[1] == 100 and all(offsets[p] == -1 for p in offsets if p >= 2)
    assert plan_holding_moves(grown, 5).moved == 0  # done: nothing more to do


def test_a_run_cut_short_before_its_deletes_is_finished_by_the_next():
    live = _live(2)
    cut_short = _applied(live, plan_holding_moves(live, 5), deletes=False)
    finished = _applied(cut_short, plan_holding_moves(cut_short, 5))
    _check(finished, 5)
