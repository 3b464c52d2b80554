"""GET /wallet/ledger: every movement of an account's money, newest first.

Two tables make it: `ledger_by_account` holds deposits, completed withdrawals and fee income, and
each fill in `trades_by_account` stands for its base, quote and fee legs (read_model.fill_legs),
which are not stored twice. Each table is read newest first as far as the page needs and the two
are merged in one fixed order: by time, then ledger rows before fills, then each table's own
order. Rows never change once written, so the `<ms>:<skip>` cursor of pages.py counts entries of
this merged order exactly as it does for a single table.
"""

from __future__ import annotations

from typing import NamedTuple

from starlette.requests import Request

from streams.read_model import DERIVED_KINDS, fill_legs

from . import views
from .fresh_reads import LEDGER, fresh
from .inputs import account, limit
from .pages import time_cursor, time_page
from .responses import JSONResponse

MAX_SCAN = 10_000  # stored rows read to skip legs older versions stored, before giving up on more


class Entry(NamedTuple):
    ts: int
    entry_id: str
    asset: str
    amount: int
    kind: str
    reference: str


async def ledger(request: Request) -> JSONResponse:
    owner, size = await account(request), limit(request, 50, 500)
    ts, skip = time_cursor(request)
    state = request.app.state
    await fresh(request, owner, LEDGER)
    entries, next_page = await page(state.store, state.feeds.markets, owner, ts, skip, size)
    assets = state.feeds.assets
    items = [{"id": e.entry_id, "time": e.ts, "asset": e.asset, "amount": views.amount(assets[e.asset], e.amount),
              "kind": e.kind, "reference": e.reference} for e in entries if e.asset in assets]
    return JSONResponse({"items": items, "next": next_page})


async def page(store, markets: dict, owner: str, ts: int, skip: int, size: int) -> tuple[list[Entry], str | None]:
    """One page of the merged ledger and its `next` cursor (see pages.py)."""
    need = size + skip
    stored = await stored_entries(store, owner, ts, need)
    fills = await store.rows("my_trades", owner, ts, need)  # each is two or three entries
    return time_page(merged(stored, fills, markets)[:need], ts, skip, size)


async def stored_entries(store, owner: str, ts: int, need: int) -> list:
    """The newest `need` stored entries at `ts` or older (or all there are), fill legs an older
    version stored left out: they are derived from the fills now."""
    scan = need
    while True:
        rows = await store.rows("ledger", owner, ts, scan)
        kept = [r for r in rows if r.kind not in DERIVED_KINDS]
        if len(kept) >= need or len(rows) < scan or scan >= MAX_SCAN:
            return kept
        scan = min(scan * 4, MAX_SCAN)


def merged(stored: list, fills: list, markets: dict) -> list[Entry]:
    """Both tables' entries in the ledger's order: time (newest first), ledger rows before fill
    legs, then each table's own order, which is what each query returned them in."""
    keyed = [((-row.ts, 0, position), Entry(row.ts, row.entry_id, row.asset, row.amount, row.kind, row.reference))
             for position, row in enumerate(stored)]
    for position, fill in enumerate(fills):
        market = markets.get(fill.market)
        if market is None:
            continue
        for leg, values in enumerate(fill_legs(fill, market)):
            keyed.append(((-fill.ts, 1, position, leg), Entry(fill.ts, *values)))
    keyed.sort(key=lambda pair: pair[0])
    return [entry for _, entry in keyed]
