"""A statement adds up: opening + movements = closing, for any period of any ledger."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from api.ledger import Entry
from api.statements import summarize

SIGNS = {"deposit": 1, "withdrawal": -1, "fee": -1, "fill": 0, "fee_income": 1}  # 0: either way


def entry(ts: int, asset: str, atoms: int, kind: str, sold: bool) -> Entry:
    return Entry(ts, f"e{ts}", asset, atoms * (SIGNS[kind] or (-1 if sold else 1)), kind, "")


entries = st.lists(st.builds(entry, st.integers(0, 1000), st.sampled_from(("SOL", "USDC")), st.integers(1, 10**12),
                             st.sampled_from(tuple(SIGNS)), st.booleans()), max_size=60)


@given(entries, st.integers(0, 1000), st.integers(1, 1000))
def test_opening_and_movements_make_the_closing_balance(ledger, start, length):
    balances = defaultdict(int)
    for entry in ledger:
        balances[entry.asset] += entry.amount  # the balance now is every movement ever
    end = start + length
    summary = summarize(dict(balances), ledger, start, end)
    for asset, row in summary.items():
        assert row["opening"] + row["deposits"] - row["withdrawals"] + row["bought"] - row["sold"] - row["fees"] + \
            row["other"] == row["closing"]
        assert row["opening"] == sum(e.amount for e in ledger if e.asset == asset and e.ts < start)
        assert row["closing"] == sum(e.amount for e in ledger if e.asset == asset and e.ts < end)
        assert min(row[m] for m in ("deposits", "withdrawals", "bought", "sold", "fees")) >= 0
