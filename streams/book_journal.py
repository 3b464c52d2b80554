"""Keeping the matching engines' state in a key-value table so that a crash never half-applies a batch.

One batch of commands changes many resting orders, but a table write changes one key, and a crash
can land between two writes. So each order row (key `o:<order_id>`) keeps, beside the order as the
batch left it, its image `before` the batch; the market row (key `m:<market>`) is written last and
names the market's committed sequence. All keys of a partition share one changelog partition and
Kafka keeps their order, so if a market row is durable, every row of its batch is too. On restore,
an order row written by a batch later than its market's committed sequence is read as its `before`
image: the cut-short batch is rolled back, and replaying its input makes it again, identically,
because the engine is deterministic.

Rows of ended orders stay (as `order: null`) until the next batch of their market, which deletes
them once the batch that ended them is certainly committed. An order placed and ended in one
batch (a taker filled at once, an IOC) gets no row at all: a rolled-back batch never had it, a
committed one no longer has it, so a row would only cost a record and its deletion.

The journal is its partition's only writer, so it remembers each resting order's committed image
instead of reading it back: a table read is two RocksDB lookups and an Avro decode, and a batch
changes an order row for nearly every command.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from streams.engine import OrderRow

ORDER_PREFIX = "o:"
MARKET_PREFIX = "m:"


def order_key(order_id: int) -> str:
    return f"{ORDER_PREFIX}{order_id}"


def market_key(market: str) -> str:
    return f"{MARKET_PREFIX}{market}"


class Restored:
    """One market as the table holds it: resting orders, committed sequence, watermarks."""

    def __init__(self) -> None:
        self.rows: list[OrderRow] = []
        self.seq = 0
        self.watermarks: dict[str, int] = {}


class BookJournal:
    def __init__(self, table: Mapping[str, dict]) -> None:
        self.table = table
        self._committed: dict[str, int] = {}
        self._ended: dict[str, list[str]] = {}
        self._images: dict[str, dict] = {}  # order key -> committed image, for resting orders

    def restore(self, markets: Iterable[str]) -> dict[str, Restored]:
        """Scan the table once for these markets, rolling back any batch cut short."""
        wanted = set(markets)
        restored = {market: Restored() for market in wanted}
        order_rows = []
        for key, row in self.table.items():
            if row["market"] not in wanted:
                continue
            if key.startswith(MARKET_PREFIX):
                restored[row["market"]].seq = row["written_seq"]
                restored[row["market"]].watermarks = dict(row["watermarks"])
            else:
                order_rows.append((key, row))
        for market, state in restored.items():
            self._committed[market] = state.seq
            self._ended[market] = []
        for key, row in order_rows:
            market = row["market"]
            image = self._committed_image(market, row)
            if image is None:
                self._ended[market].append(key)  # garbage of an ended order: delete on next commit
            else:
                restored[market].rows.append(_order_row(image))
                self._images[key] = image
        return restored

    def _committed_image(self, market: str, row: dict) -> dict | None:
        return row["before"] if row["written_seq"] > self._committed[market] else row["order"]

    def commit(self, market: str, seq: int, watermarks: dict[str, int],
               changed: dict[int, OrderRow | None]) -> dict[str, dict | None]:
        """The writes (None: delete) that commit a batch, in the order they must reach the table:
        the batch's changed orders, then the market row that commits them."""
        writes: dict[str, dict | None] = dict.fromkeys(self._ended.pop(market, ()))
        ended = []
        for order_id, row in changed.items():
            key = order_key(order_id)
            image, before = _record(row), self._images.get(key)
            if image is None and before is None:
                continue  # placed and ended in this batch: nothing to roll back to, nothing to keep
            writes[key] = {"market": market, "written_seq": seq, "order": image, "before": before,
                           "watermarks": {}}
            if image is None:
                ended.append(key)
                self._images.pop(key, None)
            else:
                self._images[key] = image
        writes[market_key(market)] = {"market": market, "written_seq": seq, "order": None, "before": None,
                                      "watermarks": watermarks}
        self._committed[market] = seq
        self._ended[market] = ended
        return writes


def _record(row: OrderRow | None) -> dict | None:
    if row is None:
        return None
    return {"order_id": row.order_id, "account": row.account, "side": row.side, "price": row.price,
            "quantity": row.qty, "remaining": row.remaining, "filled_quantity": row.filled_qty,
            "filled_quote": row.filled_quote, "ts": row.ts, "rank": row.rank}


def _order_row(record: dict) -> OrderRow:
    return OrderRow(record["order_id"], record["account"], record["side"], record["price"], record["quantity"],
                    record["remaining"], record["filled_quantity"], record["filled_quote"], record["ts"],
                    record["rank"])
