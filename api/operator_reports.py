"""GET /admin/reports/markets: each market's business over one UTC day (administrators only), as
the market-reports agent counts it (streams/market_reports.py), as JSON or CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response

from exchange.reference import steps_to_qty

from . import views
from .admin import require_admin
from .errors import bad_request
from .responses import JSONResponse

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
COLUMNS = ("market", "day", "volume", "quote_volume", "trades", "fee_income", "fee_asset", "traders",
           "orders_placed", "orders_canceled")


def market_day(row, market: dict, quote: dict) -> dict:
    return {"market": row.market, "day": row.day, "volume": steps_to_qty(market, row.volume),
            "quote_volume": views.amount(quote, row.quote_volume), "trades": row.trades,
            "fee_income": views.amount(quote, row.fee_income), "fee_asset": market["quote"], "traders": row.traders,
            "orders_placed": row.orders_placed, "orders_canceled": row.orders_canceled}


async def markets(request: Request) -> Response:
    await require_admin(request)
    day = request.query_params.get("day") or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    if not DAY.fullmatch(day):
        raise bad_request("day must be YYYY-MM-DD (UTC)", field="day")
    form = request.query_params.get("format", "json")
    if form not in ("json", "csv"):
        raise bad_request("format must be json or csv", field="format")
    feeds = request.app.state.feeds
    items = [market_day(row, feeds.markets[row.market], feeds.assets[feeds.markets[row.market]["quote"]])
             for row in await request.app.state.store.rows("market_day_reports", day) if row.market in feeds.markets]
    if form == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(items)
        return Response(text.getvalue(), media_type="text/csv")
    return JSONResponse({"day": day, "items": items})
