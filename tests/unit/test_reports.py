"""The reconciliation report's table: every asset's totals, and the difference named."""

from __future__ import annotations

from exchange.reports import AssetTotals, render

USDC = {"symbol": "USDC", "decimals": 6, "ts": 0}


def test_a_balanced_asset_says_so_and_a_difference_is_named():
    balanced = AssetTotals("USDC", held_by_accounts=7_500_000, fee_income=500_000, deposits=10_000_000,
                           withdrawals=2_500_000)
    assert balanced.difference == 0
    assert render([balanced], {"USDC": USDC}).endswith("every asset reconciles: held = deposits - withdrawals\n")
    off = AssetTotals("SOL", held_by_accounts=11, fee_income=0, deposits=10, withdrawals=0)
    table = render([balanced, off], {"USDC": USDC})
    assert "DIFFERENCE in SOL" in table and " 7.5 " in table
    assert render([off], {}, as_csv=True) == ("asset,held_by_accounts,fee_income,deposits,withdrawals,difference\n"
                                              "SOL,11,0,10,0,1\n")
