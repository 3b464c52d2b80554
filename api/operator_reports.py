"""Operator reports (administrators only), as JSON or CSV:

- GET /admin/reports/markets: each market's business over one UTC day (by=hour: each hour of
  it), as the market-reports agent counts it (streams/market_reports.py);
- GET /admin/reports/assets: every asset's holdings, fee income, deposits and withdrawals, and
  whether they reconcile, as the asset-reports agent counts them (streams/asset_reports.py).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response

from exchange.reference import steps_to_qty
from exchange.reports import AssetTotals, summed

from . import views
from .admin import require_admin
from .errors import bad_request
from .responses import JSONResponse

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ASSET_COLUMNS = ("asset", "holdings", "fee_income", "deposits", "withdrawals", "difference")
COLUMNS = ("market", "day", "volume", "quote_volume", "trades", "fee_income", "fee_asset", "traders",
           "orders_placed", "orders_canceled")
HOUR_COLUMNS = (*COLUMNS[:2], "hour", *COLUMNS[2:])


def market_day(row, market: dict, quote: dict) -> dict:
    hour = {"hour": row.hour} if hasattr(row, "hour") else {}
    return {"market": row.market, "day": row.day, **hour, "volume": steps_to_qty(market, row.volume),
            "quote_volume": views.amount(quote, row.quote_volume), "trades": row.trades,
            "fee_income": views.amount(quote, row.fee_income), "fee_asset": market["quote"], "traders": row.traders,
            "orders_placed": row.orders_placed, "orders_canceled": row.orders_canceled}


async def markets(request: Request) -> Response:
    await require_admin(request)
    day = request.query_params.get("day") or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    if not DAY.fullmatch(day):
        raise bad_request("day must be YYYY-MM-DD (UTC)", field="day")
    by = request.query_params.get("by", "day")
    if by not in ("day", "hour"):
        raise bad_request("by must be day or hour", field="by")
    form = _format(request)
    feeds = request.app.state.feeds
    rows = await request.app.state.store.rows("market_day_reports" if by == "day" else "market_hour_reports", day)
    items = [market_day(row, feeds.markets[row.market], feeds.assets[feeds.markets[row.market]["quote"]])
             for row in rows if row.market in feeds.markets]
    if form == "csv":
        return _csv(items, COLUMNS if by == "day" else HOUR_COLUMNS)
    return JSONResponse({"day": day, "by": by, "items": items})


def asset_totals(t: AssetTotals, asset: dict) -> dict:
    return {"asset": t.asset, **{field: views.amount(asset, getattr(t, field))
                                 for field in ASSET_COLUMNS[1:]}}


async def assets(request: Request) -> Response:
    await require_admin(request)
    form = _format(request)
    known = request.app.state.feeds.assets
    totals = [t for t in summed(await request.app.state.store.rows("asset_reports")) if t.asset in known]
    items = [asset_totals(t, known[t.asset]) for t in totals]
    if form == "csv":
        return _csv(items, ASSET_COLUMNS)
    return JSONResponse({"items": items, "reconciled": not any(t.difference for t in totals)})


def _format(request: Request) -> str:
    form = request.query_params.get("format", "json")
    if form not in ("json", "csv"):
        raise bad_request("format must be json or csv", field="format")
    return form


def _csv(items: list[dict], columns: tuple[str, ...]) -> Response:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(items)
    return Response(text.getvalue(), media_type="text/csv")
