"""What the recorder writes to Cassandra for each event. Pure: events in, rows out.

A row is a `Write`: a prepared statement's name, its values, and the write timestamp Cassandra
keeps for the cells. The timestamp comes from the event's own order, never from a clock:

- order rows: the market's sequence number of the update (an order lives in one market);
- balances: the Kafka offset of the balance message (an account's updates share a partition);
- candles and tickers: the last trade id they include;
- depth snapshots: their last update id;
- trades and ledger entries never change, so theirs is the trade id or 0;
- withdrawals: 1 for the request, 2 for its settlement, which follows it;
- market reports: their last trade id plus their last update sequence, both only growing;
- notifications: their time (they never change but for `read`, which the API sets);
- recorded positions: the position itself.

Cassandra keeps, per cell, the value with the highest timestamp, and a delete wins only over
older writes. So an event read twice, or replayed from the start of its topic, rewrites what is
there and can never put a row back to an older state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from exchange.db import RECORDER
from schemas.topics import FEE_ACCOUNT
from schemas.vocabulary import OPEN_STATUSES

OPPOSITE = {"buy": "sell", "sell": "buy"}

ORDER_TERMS = ("account", "market", "side", "type", "time_in_force", "price", "quantity", "quote_quantity",
               "post_only", "client_order_id", "created_ts")
ORDER_STATE = ("status", "filled_quantity", "filled_quote", "remaining_quantity", "reason", "updated_ts", "seq")


def _upsert(table: str, key: str, columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{c} = ?" for c in columns)
    return f"UPDATE {table} USING TIMESTAMP ? SET {assignments} WHERE {key}"


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
            "USING TIMESTAMP ?")


TRADE_COLUMNS = ("market", "day", "trade_id", "price", "quantity", "quote", "taker_side", "maker_order_id",
                 "taker_order_id", "ts")
ACCOUNT_TRADE_COLUMNS = ("account", "ts", "market", "trade_id", "role", "order_id", "side", "price", "quantity",
                         "quote", "fee")
LEDGER_COLUMNS = ("account", "ts", "entry_id", "asset", "amount", "kind", "reference")
CANDLE_COLUMNS = ("market", "interval", "open_time", "close_time", "open", "high", "low", "close", "volume",
                  "quote_volume", "taker_buy_volume", "taker_buy_quote_volume", "trade_count", "closed")
TICKER_COLUMNS = ("market", "open_time", "close_time", "open", "high", "low", "last", "volume", "quote_volume",
                  "trade_count", "first_trade_id", "last_trade_id")
MARKET_REPORT_COLUMNS = ("day", "market", "volume", "quote_volume", "trades", "fee_income", "traders", "orders_placed",
                         "orders_canceled")
ASSET_REPORT_COLUMNS = ("asset", "partition", "holdings", "fee_income", "deposits", "withdrawals", "ts")
NOTIFICATION_COLUMNS = ("account", "id", "kind", "ts", "text", "order_id", "market", "asset", "reference")
WITHDRAWAL_COLUMNS = ("account", "withdrawal_id", "asset", "amount", "address", "status", "requested_ts")
WITHDRAWAL_SETTLED = ("asset", "amount", "status", "settled_ts", "settle_reference")
REQUESTED, SETTLED = 1, 2  # withdrawals' write timestamps

# Values come first and the timestamp last in every statement's parameters; for UPDATE the
# timestamp is bound first, so those are built with it in front (see Write.parameters).
STATEMENTS = {
    "trade": _insert("trades_by_market_day", TRADE_COLUMNS),
    "account_trade": _insert("trades_by_account", ACCOUNT_TRADE_COLUMNS),
    "ledger": _insert("ledger_by_account", LEDGER_COLUMNS),
    # An order's first update carries its terms, and writes them with its state in one row.
    # Orders are read by (account, order_id): one table serves an order, the history and, with
    # open_orders_by_account, the open orders (orders_by_id is no longer written).
    "order_new": _upsert("orders_by_account", "account = ? AND order_id = ?", (*ORDER_TERMS[1:], *ORDER_STATE)),
    "order_state": _upsert("orders_by_account", "account = ? AND order_id = ?", ("market", "side", *ORDER_STATE)),
    "client_order": _insert("orders_by_client_id", ("account", "client_order_id", "order_id", "market")),
    "open_order": _insert("open_orders_by_account", ("account", "market", "order_id")),
    "closed_order": "DELETE FROM open_orders_by_account USING TIMESTAMP ? WHERE account = ? AND market = ? "
                    "AND order_id = ?",
    "balance": _insert("balances_by_account", ("account", "asset", "available", "held")),
    "candle": _insert("candles", CANDLE_COLUMNS),
    "ticker": _insert("tickers", TICKER_COLUMNS),
    "depth": _insert("depth_snapshots", ("market", "last_update_id", "snapshot")),
    "withdrawal_by_account": _insert("withdrawals_by_account", WITHDRAWAL_COLUMNS),
    "withdrawal_by_id": _insert("withdrawals_by_id", WITHDRAWAL_COLUMNS),
    "pending_withdrawal": _insert("pending_withdrawals", ("asset", "withdrawal_id", "account", "amount", "address",
                                                          "requested_ts")),
    "withdrawal_settled_by_account": _upsert("withdrawals_by_account", "account = ? AND withdrawal_id = ?",
                                             WITHDRAWAL_SETTLED),
    "withdrawal_settled_by_id": _upsert("withdrawals_by_id", "withdrawal_id = ?", ("account", *WITHDRAWAL_SETTLED)),
    "withdrawal_done": "DELETE FROM pending_withdrawals USING TIMESTAMP ? WHERE asset = ? AND withdrawal_id = ?",
    "notification": _insert("notifications_by_account", NOTIFICATION_COLUMNS),
    "market_report": _insert("market_day_reports", MARKET_REPORT_COLUMNS),
    "market_hour_report": _insert("market_hour_reports", ("hour", *MARKET_REPORT_COLUMNS)),
    "asset_report": _insert("asset_reports", ASSET_REPORT_COLUMNS),
    "recorded_position": _insert("recorded_positions", ("reader", "topic", "partition", "next_offset")),
}
READS = {"depth_snapshot": "SELECT snapshot FROM depth_snapshots WHERE market = ?",
         "asset_reports": "SELECT * FROM asset_reports",
         "market_day_reports": "SELECT * FROM market_day_reports WHERE day = ?"}
_TIMESTAMP_FIRST = {name for name, cql in STATEMENTS.items() if not cql.startswith("INSERT")}


@dataclass(frozen=True, slots=True)
class Write:
    statement: str
    values: tuple
    timestamp: int
    partition: tuple  # the Cassandra partition written, to group writes into one request each

    def parameters(self) -> tuple:
        if self.statement in _TIMESTAMP_FIRST:
            return (self.timestamp, *self.values)
        return (*self.values, self.timestamp)


# The row each of these statements writes, from its values: a later write of the same row with
# a higher timestamp replaces it cell by cell. An open order's row and its delete are one row.
_ROW_OF = {
    "balance": lambda v: ("balance", v[0], v[1]),
    "candle": lambda v: ("candle", v[0], v[1], v[2]),
    "ticker": lambda v: ("ticker", v[0]),
    "order_new": lambda v: ("order", v[-2], v[-1]),
    "order_state": lambda v: ("order", v[-2], v[-1]),
    "open_order": lambda v: ("open_order", *v),
    "closed_order": lambda v: ("open_order", *v),
    "asset_report": lambda v: ("asset_report", v[0], v[1]),
}


def newest_only(writes: list[Write]) -> list[Write]:
    """Writes with the same outcome in Cassandra: of those that rewrite one row, the newest.

    A recorder's batch carries several balances of one account, states of one order, versions of
    one candle; Cassandra keeps the cell with the highest timestamp anyway, so the older writes
    cost requests and compaction for nothing. An older write is kept when the newer one leaves a
    cell unset that it sets (a null is bound as unset, so the older value would have stayed), and
    so are two different writes with the same timestamp (Cassandra breaks that tie by value).
    """
    newest: dict[tuple, Write] = {}
    kept: list[Write] = []
    for write in writes:
        row_of = _ROW_OF.get(write.statement)
        if row_of is None:
            kept.append(write)
            continue
        row = row_of(write.values)
        other = newest.get(row)
        if other is None:
            newest[row] = write
            continue
        older, newer = (other, write) if other.timestamp <= write.timestamp else (write, other)
        if older.statement == "order_new" and newer.statement == "order_state":
            newest[row] = _order_with_terms(older, newer)
            continue
        newest[row] = newer
        if older.timestamp == newer.timestamp and older != newer or not _covers(newer, older):
            kept.append(older)
    return kept + list(newest.values())


# Where the state cells are in the values of order_new (after the terms but the account) and
# of order_state (after market and side).
_NEW_STATE = slice(len(ORDER_TERMS) - 1, len(ORDER_TERMS) - 1 + len(ORDER_STATE))
_STATE = slice(2, 2 + len(ORDER_STATE))


def _order_with_terms(first: Write, later: Write) -> Write:
    """An order's first update and a later one in one take, as one write: the terms of the first,
    each state cell of the later unless it leaves it unset. What Cassandra would have kept of
    the two, in one row instead of two."""
    state = tuple(new if new is not None else old
                  for new, old in zip(later.values[_STATE], first.values[_NEW_STATE]))
    values = (*first.values[:_NEW_STATE.start], *state, *first.values[_NEW_STATE.stop:])
    return Write("order_new", values, later.timestamp, first.partition)


def _covers(newer: Write, older: Write) -> bool:
    """Whether `newer` sets every cell `older` sets (an open order's insert and delete set none)."""
    if newer.statement != older.statement:
        return True
    return all(n is not None for n, o in zip(newer.values, older.values) if o is not None)


def day_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def trade_rows(trade: dict, market: dict) -> list[Write]:
    """A trade: the market's row, each side's fill and the fee account's income. A fill's ledger
    legs are not rows of their own: they follow from the fill (fill_legs), so the API derives
    them when it reads the ledger, and a trade costs five Cassandra rows fewer."""
    symbol, trade_id, ts = trade["market"], trade["trade_id"], trade["ts"]
    writes = [Write("trade", (symbol, day_of(ts), trade_id, trade["price"], trade["quantity"], trade["quote"],
                              trade["taker_side"], trade["maker_order_id"], trade["taker_order_id"], ts),
                    trade_id, ("trades", symbol, day_of(ts)))]
    sides = (("maker", trade["maker_account"], trade["maker_order_id"], OPPOSITE[trade["taker_side"]],
              trade["maker_fee"]),
             ("taker", trade["taker_account"], trade["taker_order_id"], trade["taker_side"], trade["taker_fee"]))
    for role, account, order_id, side, fee in sides:
        writes.append(Write("account_trade", (account, ts, symbol, trade_id, role, order_id, side, trade["price"],
                                              trade["quantity"], trade["quote"], fee), trade_id, ("account", account)))
    fees = trade["maker_fee"] + trade["taker_fee"]
    if fees:
        writes.append(Write("ledger", (FEE_ACCOUNT, ts, f"{symbol}:{trade_id}:fees", market["quote"], fees,
                                       "fee_income", f"trade {symbol} {trade_id}"),
                            trade_id, ("account", FEE_ACCOUNT)))
    return writes


DERIVED_KINDS = ("fill", "fee")  # ledger entries made from fills, never stored (older versions did)


def fill_legs(fill, market: dict) -> list[tuple[str, str, int, str, str]]:
    """A fill's ledger entries, (entry id, asset, amount, kind, reference): the base it bought
    or sold, the quote it paid or got, and its fee (always in quote). `fill` is a
    trades_by_account row."""
    sign = 1 if fill.side == "buy" else -1
    entry = f"{fill.market}:{fill.trade_id}:{fill.role}"
    reference = f"trade {fill.market} {fill.trade_id}"
    legs = [(f"{entry}:base", market["base"], sign * fill.quantity * market["base_per_step"], "fill", reference),
            (f"{entry}:quote", market["quote"], -sign * fill.quote, "fill", reference)]
    if fill.fee:
        legs.append((f"{entry}:fee", market["quote"], -fill.fee, "fee", reference))
    return legs


def order_rows(update: dict) -> list[Write]:
    """An order update: its state (its terms too, the first time) and its place among the
    account's open orders."""
    order_id, account, market, seq = update["order_id"], update["account"], update["market"], update["seq"]
    state = (update["status"], update["filled_quantity"], update["filled_quote"], update["remaining_quantity"],
             update["reason"], update["ts"], seq)
    by_account = ("account", account)
    writes = []
    if update.get("type") is not None:
        terms = (update["side"], update["type"], update["time_in_force"], update["price"], update["quantity"],
                 update["quote_quantity"], update["post_only"], update["client_order_id"], update["created_ts"])
        writes.append(Write("order_new", (market, *terms, *state, account, order_id), seq, by_account))
        if update["client_order_id"] is not None:
            writes.append(Write("client_order", (account, update["client_order_id"], order_id, market), seq,
                                ("client", account, update["client_order_id"])))
    else:
        writes.append(Write("order_state", (market, update["side"], *state, account, order_id), seq, by_account))
    if update["status"] in OPEN_STATUSES:
        writes.append(Write("open_order", (account, market, order_id), seq, by_account))
    else:
        writes.append(Write("closed_order", (account, market, order_id), seq, by_account))
    return writes


def balance_rows(update: dict, offset: int) -> list[Write]:
    account = update["account"]
    return [Write("balance", (account, b["asset"], b["available"], b["held"]), offset, ("account", account))
            for b in update["balances"]]


def command_result_rows(result: dict) -> list[Write]:
    """A deposit is a ledger entry; a withdrawal is listed from its request, and is a ledger entry
    once completed. Refusals and other results write nothing."""
    if not result["accepted"]:
        return []
    kind, account, ts = result.get("kind"), result["account"], result["ts"]
    if kind == "Deposit":
        values = (account, ts, result["command_id"], result["asset"], result["amount"], "deposit",
                  result["command_id"])
        return [Write("ledger", values, 0, ("account", account))]
    if kind == "Withdraw":
        return _withdrawal_requested(result)
    if kind == "SettleWithdrawal":
        return _withdrawal_settled(result)
    return []


def _withdrawal_requested(result: dict) -> list[Write]:
    account, withdrawal_id, asset, amount = result["account"], result["command_id"], result["asset"], result["amount"]
    address = result.get("reference") or ""
    values = (account, withdrawal_id, asset, amount, address, "processing", result["ts"])
    return [Write("withdrawal_by_account", values, REQUESTED, ("account", account)),
            Write("withdrawal_by_id", values, REQUESTED, ("withdrawal", withdrawal_id)),
            Write("pending_withdrawal", (asset, withdrawal_id, account, amount, address, result["ts"]), REQUESTED,
                  ("pending_withdrawals", asset))]


def _withdrawal_settled(result: dict) -> list[Write]:
    account, withdrawal_id = result["account"], result["withdrawal_id"]
    asset, amount = result["asset"], result["amount"]
    status = "completed" if result["completed"] else "failed"
    settled = (asset, amount, status, result["ts"], result.get("reference") or "")
    writes = [Write("withdrawal_settled_by_account", (*settled, account, withdrawal_id), SETTLED, ("account", account)),
              Write("withdrawal_settled_by_id", (account, *settled, withdrawal_id), SETTLED,
                    ("withdrawal", withdrawal_id)),
              Write("withdrawal_done", (asset, withdrawal_id), SETTLED, ("pending_withdrawals", asset))]
    if result["completed"]:
        values = (account, result["ts"], withdrawal_id, asset, -amount, "withdrawal",
                  result.get("reference") or withdrawal_id)
        writes.append(Write("ledger", values, 0, ("account", account)))
    return writes


def notification_rows(note: dict) -> list[Write]:
    account = note["account"]
    return [Write("notification", tuple(note[c] for c in NOTIFICATION_COLUMNS), note["ts"], ("account", account))]


def market_report_rows(report: dict) -> list[Write]:
    """A market's day (or hour of it) so far, replacing what the row had: the timestamp grows with
    every trade and order update it counts."""
    values = (report["day"], report["market"], report["volume"], report["quote_volume"], report["trades"],
              report["fee_income"], len(report["traders"]), report["orders_placed"], report["orders_canceled"])
    counted = report["last_trade_id"] + report["last_seq"]
    if report.get("hour") is None:
        return [Write("market_report", values, counted, ("market_day", report["day"]))]
    return [Write("market_hour_report", (report["hour"], *values), counted, ("market_hour", report["day"]))]


def asset_report_rows(report: dict) -> list[Write]:
    """A partition's totals, one row per asset, replacing what each had: the timestamp grows with
    every offset the report counts."""
    counted = report["balances_offset"] + report["results_offset"] + 2  # offsets start at -1: nothing
    return [Write("asset_report", (t["asset"], report["partition"], t["holdings"], t["fee_income"], t["deposits"],
                                   t["withdrawals"], report["ts"]), counted, ("asset", t["asset"]))
            for t in report["assets"]]


def candle_rows(candle: dict) -> list[Write]:
    values = tuple(candle[c] for c in CANDLE_COLUMNS)
    return [Write("candle", values, candle["last_trade_id"], ("candles", candle["market"], candle["interval"]))]


def ticker_rows(ticker: dict) -> list[Write]:
    values = tuple(ticker[c] for c in TICKER_COLUMNS)
    return [Write("ticker", values, ticker["last_trade_id"], ("ticker", ticker["market"]))]


def depth_rows(market: str, last_update_id: int, snapshot: bytes) -> list[Write]:
    return [Write("depth", (market, last_update_id, snapshot), last_update_id, ("depth", market))]



def position_rows(positions: dict[tuple[str, int], int]) -> list[Write]:
    """How far the recorder has written each (topic, partition): the next offset it will read."""
    return [Write("recorded_position", (RECORDER, topic, partition, next_offset), next_offset, ("positions",))
            for (topic, partition), next_offset in sorted(positions.items())]
