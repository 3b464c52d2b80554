"""The recorder stage: what the read model's tables (read_model.py) get from each take.

Trades, order updates, balances, command results, candles, tickers and notifications become Cassandra writes
one for one. Depth changes are applied to a book per market (depth_book.py) and only the
take's last book of each market is written, as a snapshot. Rows go first and nothing else is
sent but dead letters (see batch.py): every write is an upsert keyed by what it records, so a
take written again after a crash changes nothing.
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping

from schemas.codec import codec
from schemas.topics import (
    ASSET_REPORTS,
    BALANCES,
    CANDLES,
    COMMAND_RESULTS,
    DEPTH,
    MARKET_REPORTS,
    NOTIFICATIONS,
    ORDER_UPDATES,
    SETTLEMENTS,
    TICKERS,
    TRADES,
)

from . import metrics, read_model
from .depth_book import DepthBook, DepthGap
from .outputs import ROWS_FIRST, Decided

log = logging.getLogger("exchange.recorder")
RECORDED = (TRADES, ORDER_UPDATES, BALANCES, COMMAND_RESULTS, CANDLES, TICKERS, DEPTH, NOTIFICATIONS, MARKET_REPORTS,
            ASSET_REPORTS)
# What an account's reads come from: how far these are recorded is kept (recorded_positions),
# and so is how far exchange.settlements is, from the balance updates settlements cause.
FOLLOWED = frozenset(topic.name for topic in (TRADES, ORDER_UPDATES, BALANCES, COMMAND_RESULTS))


class RecorderStage:
    order = ROWS_FIRST
    refusals = (KeyError,)

    def __init__(self, markets: Mapping[str, dict]) -> None:
        self.markets = markets
        self.books: dict[str, DepthBook] = {}
        self.behind: set[str] = set()  # markets whose depth lost updates and waits for a full book
        self.begin(0)

    def forget(self) -> None:
        """Partitions moved: read the books again from their snapshots, as far as this worker wrote."""
        self.books.clear()

    def books_missing(self, messages: Iterable) -> set[str]:
        """Markets whose depth changes are among these messages (keyed by market) and whose book
        is not loaded: the caller loads each with `load_book` before the take."""
        return {m.key.decode(errors="replace") for m in messages
                if m.topic == DEPTH.name and m.key is not None} - self.books.keys()

    def load_book(self, market: str, snapshot: bytes | None) -> None:
        self.books[market] = (DepthBook(market) if snapshot is None
                              else DepthBook.from_snapshot(codec.decode_as("exchange.DepthSnapshot", snapshot)))

    def begin(self, now_ms: int) -> None:
        self._writes: list[read_model.Write] = []
        self._changed_books: dict[str, DepthBook] = {}
        self._settled: dict[int, int] = {}  # exchange.settlements partition -> next offset reflected

    def decide(self, message, record: dict) -> None:
        topic = message.topic
        if topic == BALANCES.name and record.get("settlement_offset") is not None:
            # A balance update goes to its account's partition, as the settlement that caused it
            self._settled[message.partition] = max(self._settled.get(message.partition, 0),
                                                   record["settlement_offset"] + 1)
        if topic == DEPTH.name:
            book = self.books[record["market"]]
            if _follow(book, record, self.behind):
                self._changed_books[book.market] = book
        else:
            self._writes.extend(_rows(topic, record, message.offset, self.markets))

    def end(self) -> Decided:
        writes = self._writes
        for book in self._changed_books.values():
            snapshot = codec.encode("exchange.DepthSnapshot", book.snapshot())
            writes.extend(read_model.depth_rows(book.market, book.last_update_id, snapshot))
        return Decided(read_model.newest_only(writes), [])


    def positions(self, processed: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Once the take is written: how far it took each followed partition. `processed` is the
        next offset to process of each (topic, partition) the take read."""
        positions = {key: offset for key, offset in processed.items() if key[0] in FOLLOWED}
        positions.update({(SETTLEMENTS.name, partition): offset for partition, offset in self._settled.items()})
        return positions


def _follow(book: DepthBook, update: dict, behind: set[str]) -> bool:
    """Apply a depth update to the recorded book; True if it changed.

    Past a gap the book stays as it was (its snapshot too) and everything else is still
    recorded: stopping the whole recorder on one market's lost updates would only add to them.
    """
    market = book.market
    try:
        changed = book.apply(update)
    except DepthGap as gap:
        metrics.DEPTH_GAPS.labels(market).inc()
        if market not in behind:
            behind.add(market)
            log.error("depth updates lost (%s): %s's depth snapshot stays at update %d until the next full book",
                      gap, market, book.last_update_id)
        return False
    if changed and market in behind:
        behind.discard(market)
        log.warning("%s's depth is whole again, from a full book at update %d", market, book.last_update_id)
    return changed


def _rows(topic: str, record: dict, offset: int, markets: Mapping[str, dict]) -> list[read_model.Write]:
    if topic == TRADES.name:
        market = markets[record["market"]]
        return [row for trade in record["trades"] for row in read_model.trade_rows(trade, market)]
    if topic == ORDER_UPDATES.name:
        return [row for update in record["updates"] for row in read_model.order_rows(update)]
    if topic == BALANCES.name:
        return read_model.balance_rows(record, offset)
    if topic == COMMAND_RESULTS.name:
        return read_model.command_result_rows(record)
    if topic == CANDLES.name:
        return read_model.candle_rows(record)
    if topic == NOTIFICATIONS.name:
        return read_model.notification_rows(record)
    if topic == MARKET_REPORTS.name:
        return read_model.market_report_rows(record)
    if topic == ASSET_REPORTS.name:
        return read_model.asset_report_rows(record)
    return read_model.ticker_rows(record)
