"""The reconciliation report's table: every asset's totals, and the difference named."""

from __future__ import annotations

from types import SimpleNamespace

from exchange.reports import AssetTotals, render, summed

USDC = {"symbol": "USDC", "decimals": 6, "ts": 0}


def test_a_balanced_asset_says_so_and_a_difference_is_named():
    balanced = AssetTotals("USDC", holdings=7_500_000, fee_income=500_000, deposits=10_000_000,
                           withdrawals=2_500_000)
    assert balanced.difference == 0
    assert render([balanced], {"USDC": USDC}).endswith("every asset reconciles: holdings = deposits - withdrawals\n")
    off = AssetTotals("SOL", holdings=11, fee_income=0, deposits=10, withdrawals=0)
    table = render([balanced, off], {"USDC": USDC})
    assert "DIFFERENCE in SOL" in table and " 7.5 " in table
    assert render([off], {}, as_csv=True) == ("asset,holdings,fee_income,deposits,withdrawals,difference\n"
                                              "SOL,11,0,10,0,1\n")


def test_the_agents_rows_add_up_per_asset_over_the_partitions():
    rows = [SimpleNamespace(asset="USDC", partition=p, holdings=h, fee_income=f, deposits=d, withdrawals=w)
            for p, h, f, d, w in [(0, 70, 0, 100, 0), (1, 25, 5, 0, 5), (2, 0, 0, 0, 0)]]
    rows.append(SimpleNamespace(asset="SOL", partition=0, holdings=3, fee_income=0, deposits=2, withdrawals=0))
    assert summed(rows) == [AssetTotals("SOL", 3, 0, 2, 0), AssetTotals("USDC", 95, 5, 100, 5)]
    assert [t.difference for t in summed(rows)] == [1, 0]
