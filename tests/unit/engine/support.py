"""Shorthands for building commands, and the invariants every engine state keeps."""

from __future__ import annotations

from collections import Counter, defaultdict

from streams.engine import (
    BUY,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    Accepted,
    Done,
    Engine,
    LevelChanged,
    MarketSpec,
    Place,
    Rejected,
    Trade,
)

SPEC = MarketSpec("BTC-USD")


def limit(order_id, account, side, price, qty, tif=GTC, ts=0, **extra) -> Place:
    return Place(order_id, account, side, LIMIT, tif, price, qty, ts, **extra)


def market(order_id, account, side, qty, tif=IOC, ts=0, **extra) -> Place:
    return Place(order_id, account, side, MARKET, tif, None, qty, ts, **extra)


def run(engine, *commands) -> list:
    """Every event of ``commands``, in order."""
    return [event for command in commands for event in engine.handle(command)]


def kinds(events) -> list[str]:
    return [type(event).__name__ for event in events]


def of(events, event_type) -> list:
    return [event for event in events if type(event) is event_type]


def fee(quote: int, ppm: int) -> int:
    return -(-quote * ppm // 1_000_000)


def check_book(engine: Engine) -> None:
    """Structural invariants of a book, from the engine's insides."""
    live = {}
    for book_side in (engine.bids, engine.asks):
        assert list(book_side.keys) == sorted(book_side.levels)
        assert book_side.best == (book_side.keys[0] if book_side.keys else None)
        for key, level in book_side.levels.items():
            assert level.key == key == book_side.sign * level.price
            assert level.book_side is book_side
            orders = list(level.live_orders())
            assert orders, "an empty level must leave the book"
            assert level.total == sum(order.remaining for order in orders)
            ranks = [order.rank for order in orders]
            assert ranks == sorted(ranks), "time priority within a level"
            for order in orders:
                assert 0 < order.remaining <= order.qty
                assert order.filled_quote >= 0
                assert order.level is level
                live[order.order_id] = order
    assert live == engine.orders
    ranks = [order.rank for order in engine.orders.values()]
    assert ranks == sorted(ranks), "orders are kept in arrival order"
    if engine.bids.best is not None and engine.asks.best is not None:
        assert -engine.bids.best < engine.asks.best, "the book is crossed"


class StreamChecker:
    """Follows an engine's event stream and checks what must hold across it."""

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.seq = 0
        self.accepted: dict[int, Accepted] = {}  # order id -> its Accepted, while open
        self.filled = Counter()  # order id -> qty traded
        self.quote = Counter()  # order id -> quote traded
        self.spent = Counter()  # taker order id -> quote + taker fees
        self.base = defaultdict(int)  # account -> base balance change
        self.cash = defaultdict(int)  # account -> quote balance change
        self.fees = 0

    def feed(self, command, events, engine: Engine) -> None:
        for event in events:
            self.seq += 1
            assert event.seq == self.seq, "seq must be contiguous"
            getattr(self, "on_" + type(event).__name__)(event)
        self.check_balances()
        open_ids = set(self.accepted)
        assert open_ids == set(engine.orders), "every accepted order is resting or done"

    def on_Accepted(self, event: Accepted) -> None:
        assert event.order_id not in self.accepted
        self.accepted[event.order_id] = event
        # Ids of finished orders may be used again.
        for tally in (self.filled, self.quote, self.spent):
            tally.pop(event.order_id, None)

    def on_Rejected(self, event: Rejected) -> None:
        pass

    def on_LevelChanged(self, event: LevelChanged) -> None:
        assert event.qty >= 0

    def on_Trade(self, trade: Trade) -> None:
        spec = self.spec
        assert trade.qty > 0 and trade.price > 0
        assert trade.quote == trade.price * trade.qty * spec.quote_per_tick_step
        assert trade.maker_fee == fee(trade.quote, spec.maker_fee_ppm) >= 0
        assert trade.taker_fee == fee(trade.quote, spec.taker_fee_ppm) >= 0
        assert trade.maker_account != trade.taker_account, "self-trade"
        maker = self.accepted[trade.maker_order_id]
        taker = self.accepted[trade.taker_order_id]
        assert maker.side != taker.side == trade.taker_side
        assert maker.price == trade.price, "trades execute at the maker's price"
        if taker.price is not None:
            better = trade.price <= taker.price if taker.side == BUY else trade.price >= taker.price
            assert better, "a taker never trades beyond its limit"
        for order_id in (trade.maker_order_id, trade.taker_order_id):
            self.filled[order_id] += trade.qty
            self.quote[order_id] += trade.quote
            qty = self.accepted[order_id].qty
            assert qty is None or self.filled[order_id] <= qty
        self.spent[taker.order_id] += trade.quote + trade.taker_fee
        if taker.quote_limit is not None:
            assert self.spent[taker.order_id] <= taker.quote_limit
        buyer, seller = (taker, maker) if taker.side == BUY else (maker, taker)
        buyer_fee, seller_fee = (
            (trade.taker_fee, trade.maker_fee) if taker.side == BUY else (trade.maker_fee, trade.taker_fee)
        )
        self.base[buyer.account] += trade.qty
        self.base[seller.account] -= trade.qty
        self.cash[buyer.account] -= trade.quote + buyer_fee
        self.cash[seller.account] += trade.quote - seller_fee
        self.fees += trade.maker_fee + trade.taker_fee

    def on_Done(self, done: Done) -> None:
        assert done.order_id in self.accepted, "exactly one Done per accepted order"
        accepted = self.accepted.pop(done.order_id)
        assert done.account == accepted.account
        assert done.filled_qty == self.filled[done.order_id]
        assert done.filled_quote == self.quote[done.order_id]
        if accepted.qty is None:
            assert done.remaining_qty is None
        else:
            assert done.remaining_qty == accepted.qty - done.filled_qty >= 0
        if done.status == "filled":
            assert done.remaining_qty in (0, None)
        assert (done.reason is None) == (done.status == "filled")

    def check_balances(self) -> None:
        assert sum(self.base.values()) == 0, "base is conserved"
        assert sum(self.cash.values()) + self.fees == 0, "quote is conserved, fees included"
