"""Operator reports: each market's business per UTC day and hour, from its trades and order
updates. Pure: no Faust, no I/O.

A row per market and day (`<market>|<day>`), and one per market and hour of it
(`<market>|<day>|<hour>`), counts volume, trades, fee income, the accounts that traded, and
orders placed and canceled. Trades and order updates of a market arrive in sequence
order, and a row keeps the last trade id and update sequence it counted, so what a replay reads
again is not counted twice. Like marketdata, it sends the changed rows (exchange.market-reports,
which the recorder keeps in Cassandra) before it writes them to its table: a crash in between
counts and sends the same rows again.
"""

from __future__ import annotations

from typing import Any, Mapping

from schemas.records import MarketDayReport
from schemas.topics import MARKET_REPORTS, TRADES
from schemas.vocabulary import CANCELED

from .outputs import OUTPUTS_FIRST, Decided, Outgoing
from .read_model import day_of

HOUR_MS = 3_600_000


def row_key(market: str, day: str, hour: int | None = None) -> str:
    return f"{market}|{day}" if hour is None else f"{market}|{day}|{hour}"


def new_row(market: str, day: str, hour: int | None = None) -> MarketDayReport:
    return {"market": market, "day": day, "volume": 0, "quote_volume": 0, "trades": 0, "fee_income": 0,
            "traders": [], "orders_placed": 0, "orders_canceled": 0, "last_trade_id": 0, "last_seq": 0, "hour": hour}


def hour_of(ts: int) -> int:
    return ts // HOUR_MS % 24


class MarketReportsStage:
    order = OUTPUTS_FIRST
    refusals = ()  # every decoded batch can be counted

    def __init__(self, table: Mapping[str, dict]) -> None:
        self.table = table
        self.begin(0)

    def begin(self, now_ms: int) -> None:
        self._changed: dict[str, tuple[int, dict]] = {}  # row key -> (partition, row)

    def _rows(self, partition: int, market: str, ts: int) -> tuple[dict, dict]:
        """The day's row and the hour's."""
        return self._row(partition, market, day_of(ts), None), self._row(partition, market, day_of(ts), hour_of(ts))

    def _row(self, partition: int, market: str, day: str, hour: int | None) -> dict:
        key = row_key(market, day, hour)
        if key not in self._changed:
            stored = self.table.get(key)
            row = ({**stored, "traders": list(stored["traders"])} if stored is not None
                   else dict(new_row(market, day, hour)))
            self._changed[key] = (partition, row)
        return self._changed[key][1]

    def decide(self, message, batch: Any) -> None:
        if message.topic == TRADES.name:
            for trade in batch["trades"]:
                for row in self._rows(message.partition, trade["market"], trade["ts"]):
                    if trade["trade_id"] <= row["last_trade_id"]:
                        continue  # counted before a crash
                    row["last_trade_id"] = trade["trade_id"]
                    row["volume"] += trade["quantity"]
                    row["quote_volume"] += trade["quote"]
                    row["trades"] += 1
                    row["fee_income"] += trade["maker_fee"] + trade["taker_fee"]
                    for account in (trade["maker_account"], trade["taker_account"]):
                        if account not in row["traders"]:
                            row["traders"].append(account)
        else:
            for update in batch["updates"]:
                for row in self._rows(message.partition, update["market"], update["ts"]):
                    if update["seq"] <= row["last_seq"]:
                        continue
                    row["last_seq"] = update["seq"]
                    row["orders_placed"] += update.get("type") is not None  # an order's first update has its terms
                    row["orders_canceled"] += update["status"] == CANCELED

    def end(self) -> Decided:
        rows: dict[int, dict[str, dict | None]] = {}
        messages = []
        for key, (partition, row) in self._changed.items():
            stored = self.table.get(key)
            if stored is not None and (stored["last_trade_id"], stored["last_seq"]) == (row["last_trade_id"],
                                                                                        row["last_seq"]):
                continue  # nothing new: all of it a replay
            rows.setdefault(partition, {})[key] = row
            messages.append(Outgoing(MARKET_REPORTS, row["market"], row, partition))
        return Decided(rows, messages)
