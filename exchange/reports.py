"""`exchange report reconcile`, `assets` and `markets`, against the live read side.

assets: the same totals as the asset-reports agent keeps them (`asset_reports`, summed over the
partitions), read at once however many accounts there are; the API's admin route and the
business metrics sum them with `summed` too.

reconcile: every asset's money adds up.
For each asset, what all accounts hold (available + held, the fee account's fee income included)
must equal what came in (credited deposits) less what left (completed withdrawals): money is only
created by a deposit and only leaves by a withdrawal, and a trade or a fee moves it between
accounts. The figures come from Cassandra (`balances_by_account`, `ledger_by_account`), so run it
when the read side has caught up: a fill whose two sides are recorded a moment apart shows as a
difference for that moment.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass

from exchange.config import Settings
from exchange.db import cluster
from exchange.reference import atoms_to_amount, steps_to_qty
from schemas.topics import FEE_ACCOUNT


@dataclass(frozen=True)
class AssetTotals:
    asset: str
    holdings: int  # available + held over every account, fee income included
    fee_income: int  # of that, the fee account's
    deposits: int
    withdrawals: int

    @property
    def difference(self) -> int:
        return self.holdings - (self.deposits - self.withdrawals)


def reconcile(session, assets: set[str] | None = None) -> list[AssetTotals]:
    """The totals of every asset (or of `assets`), read from the read side with `session`."""
    held, fees, deposits, withdrawals = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    for row in session.execute("SELECT account, asset, available, held FROM balances_by_account"):
        if assets is None or row.asset in assets:
            held[row.asset] += row.available + row.held
            if row.account == FEE_ACCOUNT:
                fees[row.asset] += row.available + row.held
    for row in session.execute("SELECT asset, amount, kind FROM ledger_by_account"):
        if assets is not None and row.asset not in assets:
            continue
        if row.kind == "deposit":
            deposits[row.asset] += row.amount
        elif row.kind == "withdrawal":
            withdrawals[row.asset] -= row.amount  # stored as what left the account: negative
    names = sorted(set(held) | set(deposits) | set(withdrawals))
    return [AssetTotals(a, held[a], fees[a], deposits[a], withdrawals[a]) for a in names]


def summed(rows) -> list[AssetTotals]:
    """Rows of `asset_reports` (one per asset and partition), added up per asset."""
    by_asset: dict[str, list[int]] = {}
    for row in rows:
        into = by_asset.setdefault(row.asset, [0, 0, 0, 0])
        for n, value in enumerate((row.holdings, row.fee_income, row.deposits, row.withdrawals)):
            into[n] += value
    return [AssetTotals(asset, *by_asset[asset]) for asset in sorted(by_asset)]


def table(columns: tuple[str, ...], rows: list[list[str]], as_csv: bool) -> str:
    if as_csv:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return text.getvalue()
    widths = [max(len(str(x)) for x in column) for column in zip(columns, *rows)]
    return "".join("  ".join(str(x).rjust(w) for x, w in zip(row, widths)) + "\n" for row in [columns, *rows])


MARKET_COLUMNS = ("market", "volume", "quote_volume", "trades", "fee_income", "traders", "orders_placed",
                  "orders_canceled")


def market_days(session, day: str, market_defs: dict[str, dict], asset_defs: dict[str, dict],
                by_hour: bool = False) -> list[list[str]]:
    """Each market's business over one UTC day (or each hour of it), as the market-reports agent
    counted it."""
    cql = f"SELECT * FROM {'market_hour_reports' if by_hour else 'market_day_reports'} WHERE day = %s"
    rows = []
    for row in session.execute(cql, (day,)):
        market = market_defs.get(row.market)
        quote = asset_defs.get(market["quote"]) if market else None
        if market is None or quote is None:
            continue
        rows.append([*([f"{row.hour:02d}"] if by_hour else []), row.market, steps_to_qty(market, row.volume),
                     atoms_to_amount(quote, row.quote_volume), str(row.trades),
                     f"{atoms_to_amount(quote, row.fee_income)} {market['quote']}", str(row.traders),
                     str(row.orders_placed), str(row.orders_canceled)])
    return rows


def run_markets(settings: Settings, day: str, as_csv: bool, market_defs: dict, asset_defs: dict,
                by_hour: bool = False) -> int:
    connection = cluster(settings)
    try:
        rows = market_days(connection.connect(settings.cassandra_keyspace), day, market_defs, asset_defs, by_hour)
    finally:
        connection.shutdown()
    print(table((("hour",) if by_hour else ()) + MARKET_COLUMNS, rows, as_csv), end="")
    return 0


def render(totals: list[AssetTotals], asset_defs: dict[str, dict], as_csv: bool = False) -> str:
    columns = ("asset", "holdings", "fee_income", "deposits", "withdrawals", "difference")

    def shown(t: AssetTotals) -> list[str]:
        asset = asset_defs.get(t.asset)
        amount = (lambda atoms: atoms_to_amount(asset, atoms)) if asset else str
        return [t.asset, *(amount(v) for v in (t.holdings, t.fee_income, t.deposits, t.withdrawals,
                                               t.difference))]

    text = table(columns, [shown(t) for t in totals], as_csv)
    if as_csv:
        return text
    off = [t.asset for t in totals if t.difference]
    return text + (f"DIFFERENCE in {', '.join(off)}\n" if off
                   else "every asset reconciles: holdings = deposits - withdrawals\n")


def run(settings: Settings, assets: list[str] | None, as_csv: bool, asset_defs: dict[str, dict],
        from_reports: bool = False) -> int:
    """reconcile (every balance and ledger entry read), or with `from_reports` the agent's totals."""
    connection = cluster(settings)
    try:
        session = connection.connect(settings.cassandra_keyspace)
        if from_reports:
            totals = [t for t in summed(session.execute("SELECT * FROM asset_reports"))
                      if not assets or t.asset in assets]
        else:
            totals = reconcile(session, set(assets) if assets else None)
    finally:
        connection.shutdown()
    print(render(totals, asset_defs, as_csv), end="")
    return 1 if any(t.difference for t in totals) else 0
