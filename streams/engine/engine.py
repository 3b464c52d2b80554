"""One market's matching engine: a state machine turning commands into events.

Event order, per command (``seq`` rises by one per event):

- A rejected command emits a single Rejected and changes nothing.
- Place: Accepted; then, per resting order met in price-time priority,
  either a Trade followed at once by that maker's Done if it filled, or the
  maker's Done (expired, self_trade) under STP expire maker/both; then the
  taker's Done, unless it rests; then one LevelChanged per level touched,
  in the order first touched (levels taken from, best first, then the
  level the taker joined).
- Cancel: the order's Done (canceled, user), then its level's LevelChanged.
- CancelAll: a Done per order of the account in arrival order, then a
  LevelChanged per level touched, in the order first touched. An account
  with nothing resting gets no events at all.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Hashable, Iterable

from .book import BookSide, Level, Order
from .commands import BUY, FOK, GTC, MARKET, SELL, Cancel, CancelAll, Command, Place
from .events import (
    CANCELED,
    DUPLICATE_ORDER_ID,
    EXPIRED,
    FILLED,
    FOK_UNFILLED,
    INVALID_TIMESTAMP,
    IOC_REMAINDER,
    MARKET_REMAINDER,
    POST_ONLY_WOULD_TRADE,
    QUOTE_LIMIT,
    SELF_TRADE,
    UNKNOWN_COMMAND,
    UNKNOWN_ORDER,
    USER,
    Accepted,
    Done,
    Event,
    LevelChanged,
    Rejected,
    Trade,
)
from .fees import fee
from .matching import COMPLETE, NO_FUNDS, NO_LIQUIDITY, SELF_TRADE_STOP, plan
from .snapshot import MarketState, OrderRow, order_row
from .spec import MarketSpec
from .validation import is_timestamp, place_error


class Engine:
    """The order book of one market and the rules that change it."""

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.seq = 0  # the last event's seq
        # Resting orders by id. Insertion order is arrival order, which
        # cancel-all and export rely on.
        self.orders: dict[int, Order] = {}
        self.bids = BookSide(BUY, -1)
        self.asks = BookSide(SELL, 1)

    def handle(self, command: Command) -> list[Event]:
        """Apply one command; never raises, whatever the command holds."""
        kind = type(command)  # mypy narrows only `type(command) is ...`, not through `kind`
        if kind is Place:
            return self.place(command)  # type: ignore[arg-type]
        if kind is Cancel:
            return self.cancel(command)  # type: ignore[arg-type]
        if kind is CancelAll:
            return self.cancel_all(command)  # type: ignore[arg-type]
        return [self._rejected(None, None, UNKNOWN_COMMAND, None)]

    def place(self, place: Place) -> list[Event]:
        order_id, account, side, type_, tif, price, qty, ts, post_only, quote_limit, _, _ = place
        reason = place_error(self.spec, place)
        if reason is not None:
            return [self._rejected(order_id, account, reason, ts)]
        if side == BUY:
            own, opposite = self.bids, self.asks
        else:
            own, opposite = self.asks, self.bids
        best = opposite.best
        limit_key = None if price is None else opposite.sign * price
        crosses = best is not None and (limit_key is None or best <= limit_key)
        if order_id in self.orders:
            return [self._rejected(order_id, account, DUPLICATE_ORDER_ID, ts)]
        if post_only and crosses:
            return [self._rejected(order_id, account, POST_ONLY_WOULD_TRADE, ts)]

        self.seq = rank = self.seq + 1
        accepted = Accepted(rank, order_id, account, side, type_, tif, price, qty, quote_limit, ts)
        # The type ignores that follow: place_error has checked that a GTC order has a price and a quantity.
        if not crosses and tif == GTC:
            # Most orders just rest; this is the general path below with
            # everything that cannot happen taken out.
            level = self._rest(Order(order_id, account, qty, qty, 0, ts, rank), own, price)  # type: ignore[arg-type]
            self.seq += 1
            return [accepted, LevelChanged(self.seq, side, price, level.total)]  # type: ignore[arg-type]

        events: list[Event] = [accepted]
        touched: list[Level] = []
        filled = filled_quote = 0
        outcome = NO_LIQUIDITY
        if crosses:
            filled, filled_quote, outcome = self._take(place, opposite, limit_key, events, touched)
        if outcome == NO_LIQUIDITY and tif == GTC:
            order = Order(order_id, account, qty, qty - filled, filled_quote, ts, rank)  # type: ignore[arg-type, operator]
            touched.append(self._rest(order, own, price))  # type: ignore[arg-type]
        else:
            status, reason = _taker_end(place, outcome)
            remaining = None if qty is None else qty - filled
            self.seq += 1
            events.append(
                Done(self.seq, order_id, account, status, filled, filled_quote, remaining, reason, ts)
            )
        self._report_levels(touched, events)
        return events

    def cancel(self, cancel: Cancel) -> list[Event]:
        order_id, account, ts, _ = cancel
        if not is_timestamp(ts):
            return [self._rejected(order_id, account, INVALID_TIMESTAMP, ts)]
        order = self.orders.get(order_id) if type(order_id) is int else None
        # Someone else's order is "unknown" too, so ids cannot be probed.
        if order is None or order.account != account:
            return [self._rejected(order_id, account, UNKNOWN_ORDER, ts)]
        events: list[Event] = []
        self._finish(order, CANCELED, USER, ts, events)
        self._report_levels((order.level.book_side.withdraw(order),), events)
        return events

    def cancel_all(self, cancel_all: CancelAll) -> list[Event]:
        account, ts, _ = cancel_all
        if not is_timestamp(ts):
            return [self._rejected(None, account, INVALID_TIMESTAMP, ts)]
        # A scan of every resting order: cancel-all is rare, while an index
        # by account would cost memory on every order and time on every
        # place and cancel.
        doomed = [order for order in self.orders.values() if order.account == account]
        events: list[Event] = []
        touched: dict[Level, None] = {}  # an ordered set
        for order in doomed:
            self._finish(order, CANCELED, USER, ts, events)
            touched[order.level] = None
            order.level.book_side.withdraw(order)
        self._report_levels(touched, events)
        return events

    def _take(
        self,
        place: Place,
        book: BookSide,
        limit_key: int | None,
        events: list[Event],
        touched: list[Level],
    ) -> tuple[int, int, str]:
        """Match a taker against ``book``; returns its filled qty and quote, and why it stopped."""
        spec = self.spec
        steps, outcome = plan(
            book,
            place.account,
            place.stp,
            limit_key,
            place.qty,
            place.quote_limit,
            spec.quote_per_tick_step,
            spec.taker_fee_ppm,
        )
        if place.tif == FOK and outcome != COMPLETE:
            return 0, 0, outcome

        taker_id, taker_account, taker_side, ts = place.order_id, place.account, place.side, place.ts
        quote_per_tick_step = spec.quote_per_tick_step
        maker_fee_ppm, taker_fee_ppm = spec.maker_fee_ppm, spec.taker_fee_ppm
        filled = filled_quote = 0
        level = None
        for maker, qty in steps:
            if maker.level is not level:
                level = maker.level
                touched.append(level)
            if qty is None:
                self._finish(maker, EXPIRED, SELF_TRADE, ts, events)
                level.total -= maker.remaining
                maker.remaining = 0
                continue
            price = level.price
            quote = price * qty * quote_per_tick_step
            self.seq += 1
            events.append(
                Trade(
                    self.seq,
                    price,
                    qty,
                    quote,
                    maker.order_id,
                    maker.account,
                    taker_id,
                    taker_account,
                    taker_side,
                    fee(quote, maker_fee_ppm),
                    fee(quote, taker_fee_ppm),
                    ts,
                )
            )
            filled += qty
            filled_quote += quote
            level.total -= qty
            maker.remaining -= qty
            maker.filled_quote += quote
            if not maker.remaining:
                self._finish(maker, FILLED, None, ts, events)

        for level in touched:
            if level.total:
                level.drop_dead_head()
            else:
                book.remove(level)
        return filled, filled_quote, outcome

    def _rest(self, order: Order, book: BookSide, price: int) -> Level:
        self.orders[order.order_id] = order
        return book.add(order, price)

    def _finish(self, order: Order, status: str, reason: str | None, ts: int, events: list[Event]) -> None:
        """Emit a resting order's Done and forget it; the caller takes it off its level."""
        del self.orders[order.order_id]
        self.seq += 1
        events.append(
            Done(
                self.seq,
                order.order_id,
                order.account,
                status,
                order.qty - order.remaining,
                order.filled_quote,
                order.remaining,
                reason,
                ts,
            )
        )

    def _report_levels(self, levels: Iterable[Level], events: list[Event]) -> None:
        for level in levels:
            self.seq += 1
            events.append(LevelChanged(self.seq, level.book_side.side, level.price, level.total))

    def _rejected(self, order_id: int | None, account: Hashable, reason: str, ts: int | None) -> Rejected:
        self.seq += 1
        return Rejected(self.seq, order_id, account, reason, ts)

    # State for a key-value store; see snapshot.py.

    def export(self) -> tuple[list[OrderRow], MarketState]:
        """Every resting order's row, in arrival order, and the market's row."""
        return [order_row(order) for order in self.orders.values()], self.state()

    def state(self) -> MarketState:
        return MarketState(self.spec.symbol, self.seq)

    def order_row(self, order_id: int) -> OrderRow | None:
        """The row of a resting order, or None once it is done (delete it then)."""
        order = self.orders.get(order_id)
        return None if order is None else order_row(order)

    @classmethod
    def restore(cls, spec: MarketSpec, rows: Iterable[OrderRow], state: MarketState) -> Engine:
        """Rebuild an engine from ``export()``'s rows, in any order."""
        if state.symbol != spec.symbol:
            raise ValueError(f"state of {state.symbol!r} cannot restore {spec.symbol!r}")
        engine = cls(spec)
        engine.seq = state.seq
        for row in sorted(rows, key=attrgetter("rank")):
            order = Order(
                row.order_id, row.account, row.qty, row.remaining, row.filled_quote, row.ts, row.rank
            )
            book = engine.bids if row.side == BUY else engine.asks
            book.add(order, row.price)
            engine.orders[row.order_id] = order
        return engine


def _taker_end(place: Place, outcome: str) -> tuple[str, str | None]:
    """The status and reason of a taker that does not rest."""
    if outcome == COMPLETE:
        return FILLED, None
    if place.tif == FOK:
        return EXPIRED, FOK_UNFILLED
    if outcome == SELF_TRADE_STOP:
        return EXPIRED, SELF_TRADE
    if outcome == NO_FUNDS:
        return EXPIRED, QUOTE_LIMIT
    return EXPIRED, MARKET_REMAINDER if place.type == MARKET else IOC_REMAINDER
