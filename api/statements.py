"""GET /statements: an account's statement for a period, as JSON or CSV.

Per asset: the opening and closing balance, and what moved it in between (deposits,
withdrawals, bought, sold, fees, anything else), so that opening + deposits - withdrawals +
bought - sold - fees + other = closing, exactly, in atoms. It is worked out backwards from the
balance now: the closing balance is today's less every ledger entry after the period (the ledger
of api/ledger.py: stored entries and each fill's legs), and the opening is the closing less the
period's entries. The period is [from, to) in milliseconds; it may reach back as far as
MAX_ENTRIES ledger entries from now.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from starlette.requests import Request
from starlette.responses import Response

from exchange.commands import now_ms

from . import views
from .errors import bad_request
from .fresh_reads import LEDGER, fresh
from .inputs import DIGITS, account
from .ledger import Entry, merged, stored_entries
from .responses import JSONResponse

MAX_ENTRIES = 50_000  # stored rows and fills each, from now back to the period's start
MOVEMENTS = ("deposits", "withdrawals", "bought", "sold", "fees", "other")
OUTGOING = ("withdrawals", "sold", "fees")  # shown as the amounts that left
CSV_COLUMNS = ("asset", "opening", *MOVEMENTS, "closing")


def _time(request: Request, name: str, default: int | None) -> int:
    value = request.query_params.get(name)
    if value is None and default is not None:
        return default
    if value is None or not DIGITS.fullmatch(value):
        raise bad_request(f"{name} must be a time in milliseconds since 1970", field=name)
    return int(value)


def movement(entry: Entry) -> str:
    if entry.kind == "deposit":
        return "deposits"
    if entry.kind == "withdrawal":
        return "withdrawals"
    if entry.kind == "fill":
        return "bought" if entry.amount > 0 else "sold"
    if entry.kind == "fee":
        return "fees"
    return "other"


def summarize(balances: dict[str, int], entries: list[Entry], start: int, end: int) -> dict[str, dict[str, int]]:
    """Per asset, in atoms: opening, each movement (what came in and what left, each as an amount;
    `other` signed) and closing, from the balances now and every entry since `start`."""
    after = defaultdict(int)
    moved: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MOVEMENTS, 0))
    for entry in entries:
        if entry.ts >= end:
            after[entry.asset] += entry.amount
        elif entry.ts >= start:
            kind = movement(entry)
            moved[entry.asset][kind] += -entry.amount if kind in OUTGOING else entry.amount
    summary = {}
    for asset in sorted(set(balances) | set(moved)):
        closing = balances.get(asset, 0) - after[asset]
        m = moved[asset]
        net = m["deposits"] - m["withdrawals"] + m["bought"] - m["sold"] - m["fees"] + m["other"]
        summary[asset] = {"opening": closing - net, **m, "closing": closing}
    return summary


async def statement(request: Request) -> Response:
    owner = await account(request)
    now = now_ms()
    end = _time(request, "to", now + 1)
    start = _time(request, "from", None)
    form = request.query_params.get("format", "json")
    if form not in ("json", "csv"):
        raise bad_request("format must be json or csv", field="format")
    if start >= end:
        raise bad_request("from must be before to", field="from")
    state = request.app.state
    await fresh(request, owner, LEDGER)
    store, feeds = state.store, state.feeds
    balances = {row.asset: row.available + row.held for row in await store.rows("balances", owner)}
    stored = await stored_entries(store, owner, now + 60_000, MAX_ENTRIES)
    fills = await store.rows("my_trades", owner, now + 60_000, MAX_ENTRIES)
    if (len(stored) >= MAX_ENTRIES and stored[-1].ts >= start) or (len(fills) >= MAX_ENTRIES and fills[-1].ts >= start):
        raise bad_request(f"more than {MAX_ENTRIES} ledger entries since `from`: ask for a more recent period",
                          field="from")
    summary = summarize(balances, merged(stored, fills, feeds.markets), start, end)
    assets = feeds.assets
    shown = [{"asset": asset, **{k: views.amount(assets[asset], v) for k, v in row.items()}}
             for asset, row in summary.items() if asset in assets]
    if form == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(shown)
        return Response(text.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="statement-{start}-{end}.csv"'})
    trades = [views.my_trade(row, feeds.markets[row.market], assets) for row in reversed(fills)
              if start <= row.ts < end and row.market in feeds.markets]
    return JSONResponse({"from": start, "to": end, "assets": shown, "trades": trades})
