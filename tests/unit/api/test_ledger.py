"""The ledger merges stored entries with legs derived from fills: paging it gives every entry once,
in one order, whatever the page size; legs that older versions stored are not shown twice."""

from __future__ import annotations

import asyncio
from collections import namedtuple

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from api.ledger import page
from api.pages import time_cursor
from exchange.reference import make_asset, make_market

MARKETS = {"SOL_USDC": make_market("SOL_USDC", make_asset("SOL", 9, 0), make_asset("USDC", 6, 0), tick="0.01",
                                   step="0.001", partition=0, ts=0)}
Stored = namedtuple("Stored", "ts entry_id asset amount kind reference")
Fill = namedtuple("Fill", "ts market trade_id role side price quantity quote fee")


class FakeStore:
    """Answers the two queries as Cassandra would: `ts <= ?` in clustering order, LIMIT n."""

    def __init__(self, stored: list[Stored], fills: list[Fill]) -> None:
        self.tables = {"ledger": sorted(stored, key=lambda r: (-r.ts, r.entry_id)),
                       "my_trades": sorted(fills, key=lambda f: (-f.ts, f.market, -f.trade_id, f.role))}

    async def rows(self, name: str, owner: str, ts: int, limit: int) -> list:
        return [row for row in self.tables[name] if row.ts <= ts][:limit]


def request(cursor: str | None) -> Request:
    query = b"" if cursor is None else f"cursor={cursor}".encode()
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []})


def read_all(store: FakeStore, size: int) -> list:
    seen, cursor = [], None
    for _ in range(1000):
        ts, skip = time_cursor(request(cursor))
        entries, cursor = asyncio.run(page(store, MARKETS, "ana", ts, skip, size))
        assert len(entries) <= size
        seen += entries
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


times = st.integers(0, 4)
stored_rows = st.lists(st.builds(lambda ts, n, kind: Stored(ts, f"e{n:03d}", "USDC", 5, kind, "r"), times,
                                 st.integers(0, 999), st.sampled_from(["deposit", "withdrawal", "fill", "fee"])),
                       max_size=15, unique_by=lambda r: (r.ts, r.entry_id))
fills = st.lists(st.builds(lambda ts, trade_id, role, fee: Fill(ts, "SOL_USDC", trade_id, role, "buy", 100, 2, 200,
                                                                 fee), times, st.integers(1, 50),
                           st.sampled_from(["maker", "taker"]), st.sampled_from([0, 3])),
                 max_size=12, unique_by=lambda f: (f.ts, f.trade_id, f.role))


@settings(max_examples=150, deadline=None)
@given(stored_rows, fills, st.integers(1, 6))
def test_paging_the_merged_ledger_gives_every_entry_once_in_order(stored, fills, size):
    store = FakeStore(stored, fills)
    everything = read_all(store, 10_000)
    kept = [r for r in stored if r.kind not in ("fill", "fee")]  # stored by older versions: derived now
    legs = sum(3 if f.fee else 2 for f in fills)
    assert len(everything) == len(kept) + legs
    assert {e.entry_id for e in everything} >= {r.entry_id for r in kept}
    assert [e.ts for e in everything] == sorted((e.ts for e in everything), reverse=True)
    assert read_all(store, size) == everything


def test_a_buy_fill_is_base_in_quote_out_and_the_fee_out():
    store = FakeStore([], [Fill(7, "SOL_USDC", 12, "taker", "buy", 15000, 1000, 150_000_000, 300_000)])
    entries = read_all(store, 10)
    assert [(e.entry_id, e.asset, e.amount, e.kind) for e in entries] == [
        ("SOL_USDC:12:taker:base", "SOL", 1_000_000_000, "fill"),
        ("SOL_USDC:12:taker:quote", "USDC", -150_000_000, "fill"),
        ("SOL_USDC:12:taker:fee", "USDC", -300_000, "fee")]
