"""The business gauges: the reports in units, and a reconciliation difference that is exactly 0
when the books balance, however large the amounts."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from prometheus_client import REGISTRY

from streams import business_metrics
from streams.business_metrics import asset_figures, market_figures

ASSETS = {"USDC": {"symbol": "USDC", "decimals": 6}, "SOL": {"symbol": "SOL", "decimals": 9}}
MARKETS = {"SOL_USDC": {"symbol": "SOL_USDC", "base": "SOL", "quote": "USDC", "step": "0.01", "tick": "0.001"}}


def _asset_row(asset, partition, holdings, deposits, withdrawals=0, fee_income=0):
    return SimpleNamespace(asset=asset, partition=partition, holdings=holdings, fee_income=fee_income,
                           deposits=deposits, withdrawals=withdrawals)


def test_a_balanced_asset_shows_a_difference_of_exactly_zero_and_an_unbalanced_one_its_amount():
    big = 10**17 + 1  # past a float's exact integers: the difference is worked out in atoms first
    rows = [_asset_row("USDC", 0, big - 5, big, fee_income=3), _asset_row("USDC", 1, 5, 0),
            _asset_row("SOL", 0, 2_000_000_001, 2_000_000_000)]
    figures = asset_figures(rows, ASSETS)
    assert figures[("difference", "USDC")] == 0.0 and figures[("fee_income", "USDC")] == 0.000003
    assert figures[("difference", "SOL")] == 1e-9 and figures[("holdings", "SOL")] == 2.000000001


def test_a_markets_day_in_units_of_its_base_and_quote():
    row = SimpleNamespace(market="SOL_USDC", volume=250, quote_volume=12_500_000, trades=3, fee_income=12_500,
                          traders=2, orders_placed=9, orders_canceled=4)
    figures = market_figures([row, SimpleNamespace(market="GONE_USDC")], MARKETS, ASSETS)
    assert figures[("volume", "SOL_USDC")] == 2.5 and figures[("quote_volume", "SOL_USDC")] == 12.5
    assert figures[("fee_income", "SOL_USDC")] == 0.0125 and figures[("orders_canceled", "SOL_USDC")] == 4.0
    assert not any(market == "GONE_USDC" for _, market in figures)


def test_update_sets_the_gauges_from_what_the_tables_hold():
    class Tables:
        async def read(self, name, parameters=()):
            if name == "asset_reports":
                return [_asset_row("USDC", 0, 7_000_000, 8_000_000, withdrawals=1_000_000)]
            return [SimpleNamespace(market="SOL_USDC", volume=100, quote_volume=1, trades=1, fee_income=0, traders=1,
                                    orders_placed=1, orders_canceled=0)]

    asyncio.run(business_metrics.update(Tables(), MARKETS, ASSETS))
    assert REGISTRY.get_sample_value("exchange_asset_holdings", {"asset": "USDC"}) == 7.0
    assert REGISTRY.get_sample_value("exchange_asset_reconciliation_difference", {"asset": "USDC"}) == 0.0
    assert REGISTRY.get_sample_value("exchange_market_day_volume", {"market": "SOL_USDC"}) == 1.0
