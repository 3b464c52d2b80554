"""The operator reports as Prometheus gauges, for the dashboard's business panels and the
reconciliation alert.

The reports live in Cassandra (`asset_reports`, `market_day_reports`), kept by the read app's
report agents; every `EVERY` seconds the read app reads them back and sets these gauges. Amounts
are in whole units of their asset (the market's base for volume, its quote for quote volume and
fees): a float is fine for a panel. The reconciliation difference is worked out in integer atoms
first, so the gauge is exactly 0 when the books balance and nonzero when they do not.

Every read-app process sets the same values, read from the same tables: panels and the alert take
the max over processes.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Mapping

from prometheus_client import Gauge

from exchange.reports import summed

EVERY = 30.0  # seconds

ASSET_FIGURES = {
    "holdings": Gauge("exchange_asset_holdings", "What all accounts hold of an asset (available + held), in units",
                      ["asset"]),
    "fee_income": Gauge("exchange_asset_fee_income", "Fees collected of an asset, held by the fee account, in units",
                        ["asset"]),
    "deposits": Gauge("exchange_asset_deposits", "Credited deposits of an asset ever, in units", ["asset"]),
    "withdrawals": Gauge("exchange_asset_withdrawals", "Completed withdrawals of an asset ever, in units", ["asset"]),
    "difference": Gauge("exchange_asset_reconciliation_difference",
                        "Holdings less (deposits - withdrawals) of an asset, in units: 0 unless money was made "
                        "or lost", ["asset"]),
}
MARKET_FIGURES = {
    "volume": Gauge("exchange_market_day_volume", "Base traded today (UTC), in units of the base", ["market"]),
    "quote_volume": Gauge("exchange_market_day_quote_volume", "Quote traded today (UTC), in units of the quote",
                          ["market"]),
    "trades": Gauge("exchange_market_day_trades", "Trades today (UTC)", ["market"]),
    "fee_income": Gauge("exchange_market_day_fee_income", "Fees earned today (UTC), in units of the quote",
                        ["market"]),
    "traders": Gauge("exchange_market_day_traders", "Accounts that traded today (UTC)", ["market"]),
    "orders_placed": Gauge("exchange_market_day_orders_placed", "Orders placed today (UTC)", ["market"]),
    "orders_canceled": Gauge("exchange_market_day_orders_canceled", "Orders canceled today (UTC)", ["market"]),
}
REPORTS_READ = Gauge("exchange_business_metrics_updated_seconds", "When the business gauges were last set (unix time)")


def units(atoms: int, decimals: int) -> float:
    return float(Decimal(atoms).scaleb(-decimals))


def asset_figures(rows, assets: Mapping[str, dict]) -> dict[tuple[str, str], float]:
    """(figure, asset) -> value, from `asset_reports` rows."""
    figures = {}
    for t in summed(rows):
        decimals = assets[t.asset]["decimals"] if t.asset in assets else 0
        for name in ASSET_FIGURES:
            figures[(name, t.asset)] = units(getattr(t, name), decimals)
    return figures


def market_figures(rows, markets: Mapping[str, dict], assets: Mapping[str, dict]) -> dict[tuple[str, str], float]:
    """(figure, market) -> value, from one day's `market_day_reports` rows."""
    figures = {}
    for row in rows:
        market = markets.get(row.market)
        quote = assets.get(market["quote"]) if market else None
        if market is None or quote is None:
            continue
        step = Decimal(market["step"])
        figures[("volume", row.market)] = float(step * row.volume)
        figures[("quote_volume", row.market)] = units(row.quote_volume, quote["decimals"])
        figures[("fee_income", row.market)] = units(row.fee_income, quote["decimals"])
        for name in ("trades", "traders", "orders_placed", "orders_canceled"):
            figures[(name, row.market)] = float(getattr(row, name))
    return figures


async def update(sink, markets: Mapping[str, dict], assets: Mapping[str, dict]) -> None:
    """Read the reports and set the gauges (a market with no row today shows nothing)."""
    day = time.strftime("%Y-%m-%d", time.gmtime())
    for (name, asset), value in asset_figures(await sink.read("asset_reports"), assets).items():
        ASSET_FIGURES[name].labels(asset).set(value)
    for gauge in MARKET_FIGURES.values():
        gauge.clear()  # yesterday's markets go
    for (name, market), value in market_figures(await sink.read("market_day_reports", (day,)), markets,
                                                assets).items():
        MARKET_FIGURES[name].labels(market).set(value)
    REPORTS_READ.set(time.time())
