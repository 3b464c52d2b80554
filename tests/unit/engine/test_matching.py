from streams.engine import (
    BUY,
    EXPIRE_BOTH,
    EXPIRE_MAKER,
    EXPIRE_TAKER,
    FOK,
    IOC,
    SELL,
    Accepted,
    Cancel,
    Done,
    Engine,
    LevelChanged,
    MarketSpec,
    Trade,
)

from .support import SPEC, kinds, limit, market, of, run


def book_with_asks(*asks, spec=SPEC):
    """An engine holding ``(order_id, account, price, qty)`` asks, placed in order."""
    engine = Engine(spec)
    run(engine, *(limit(order_id, account, SELL, price, qty) for order_id, account, price, qty in asks))
    return engine


def fills(events):
    return [(trade.maker_order_id, trade.price, trade.qty) for trade in of(events, Trade)]


def done(events, order_id):
    [event] = [event for event in of(events, Done) if event.order_id == order_id]
    return event


def test_a_passive_order_rests_and_reports_its_level():
    engine = Engine(SPEC)
    events = engine.handle(limit(1, 7, BUY, 100, 5, ts=42))
    assert events == [
        Accepted(1, 1, 7, BUY, "limit", "GTC", 100, 5, None, 42),
        LevelChanged(2, BUY, 100, 5),
    ]
    assert engine.bids.depth() == [(100, 5)]


def test_better_price_first_then_arrival_order():
    engine = book_with_asks((1, 1, 101, 5), (2, 2, 101, 5), (3, 3, 100, 5))
    events = engine.handle(limit(4, 4, BUY, 101, 12))
    assert fills(events) == [(3, 100, 5), (1, 101, 5), (2, 101, 2)]


def test_a_partly_filled_order_keeps_its_place():
    engine = book_with_asks((1, 1, 100, 5), (2, 2, 100, 5))
    assert fills(engine.handle(limit(3, 3, BUY, 100, 3))) == [(1, 100, 3)]
    assert fills(engine.handle(limit(4, 3, BUY, 100, 3))) == [(1, 100, 2), (2, 100, 1)]


def test_trades_execute_at_the_makers_price():
    engine = Engine(SPEC)
    run(engine, limit(1, 1, BUY, 105, 5))
    [trade] = of(engine.handle(limit(2, 2, SELL, 99, 5)), Trade)
    assert trade.price == 105


def test_event_order_of_a_crossing_order():
    engine = book_with_asks((1, 1, 100, 2), (2, 2, 101, 5))
    events = engine.handle(limit(3, 3, BUY, 101, 4, ts=9))
    assert kinds(events) == ["Accepted", "Trade", "Done", "Trade", "Done", "LevelChanged", "LevelChanged"]
    assert [event.seq for event in events] == list(range(5, 12))
    assert done(events, 1).status == "filled"
    assert done(events, 3) == Done(9, 3, 3, "filled", 4, 402, 0, None, 9)
    assert of(events, LevelChanged) == [LevelChanged(10, SELL, 100, 0), LevelChanged(11, SELL, 101, 3)]


def test_a_gtc_remainder_rests_after_taking():
    engine = book_with_asks((1, 1, 100, 2))
    events = engine.handle(limit(2, 2, BUY, 101, 5))
    assert kinds(events) == ["Accepted", "Trade", "Done", "LevelChanged", "LevelChanged"]
    assert [(e.side, e.price, e.qty) for e in of(events, LevelChanged)] == [(SELL, 100, 0), (BUY, 101, 3)]
    row = engine.order_row(2)
    assert (row.remaining, row.filled_qty, row.filled_quote) == (3, 2, 200)


def test_ioc_takes_what_it_can_and_expires_the_rest():
    engine = book_with_asks((1, 1, 100, 4), (2, 1, 102, 4))
    events = engine.handle(limit(3, 2, BUY, 101, 10, tif=IOC))
    assert fills(events) == [(1, 100, 4)]
    assert done(events, 3) == Done(8, 3, 2, "expired", 4, 400, 6, "ioc", 0)
    assert engine.bids.depth() == []


def test_a_market_order_expires_what_the_book_cannot_fill():
    engine = book_with_asks((1, 1, 100, 4), (2, 1, 150, 4))
    events = engine.handle(market(3, 2, BUY, 10))
    assert fills(events) == [(1, 100, 4), (2, 150, 4)]
    assert (done(events, 3).status, done(events, 3).reason, done(events, 3).remaining_qty) == ("expired", "market", 2)


def test_a_market_order_into_an_empty_book_expires_unfilled():
    events = Engine(SPEC).handle(market(1, 1, SELL, 3))
    assert kinds(events) == ["Accepted", "Done"]
    assert (events[1].status, events[1].filled_qty, events[1].reason) == ("expired", 0, "market")


class TestFillOrKill:
    def test_fills_completely_when_it_can(self):
        engine = book_with_asks((1, 1, 100, 4), (2, 1, 101, 4))
        events = engine.handle(limit(3, 2, BUY, 101, 8, tif=FOK))
        assert fills(events) == [(1, 100, 4), (2, 101, 4)]
        assert done(events, 3).status == "filled"

    def test_does_nothing_when_it_cannot(self):
        engine = book_with_asks((1, 1, 100, 4), (2, 1, 102, 4))
        before = engine.export()
        events = engine.handle(limit(3, 2, BUY, 101, 5, tif=FOK))
        assert kinds(events) == ["Accepted", "Done"]
        assert (events[1].status, events[1].reason, events[1].remaining_qty) == ("expired", "fok", 5)
        assert engine.export()[0] == before[0]

    def test_a_market_fok_counts_the_whole_book(self):
        engine = book_with_asks((1, 1, 100, 4), (2, 1, 102, 4))
        assert done(engine.handle(market(3, 2, BUY, 9, tif=FOK)), 3).reason == "fok"
        assert done(engine.handle(market(4, 2, BUY, 8, tif=FOK)), 4).status == "filled"

    def test_expire_taker_counts_only_liquidity_ahead_of_its_own_order(self):
        # 3 from someone else, then our own 5, then 5 more from someone else.
        engine = book_with_asks((1, 2, 100, 3), (2, 1, 100, 5), (3, 2, 101, 5))
        for stp in (EXPIRE_TAKER, EXPIRE_BOTH):
            events = engine.handle(limit(10, 1, BUY, 101, 8, tif=FOK, stp=stp))
            assert kinds(events) == ["Accepted", "Done"] and events[1].reason == "fok"
        assert engine.asks.depth() == [(100, 8), (101, 5)]

    def test_expire_maker_skips_its_own_orders_and_expires_them_if_it_fills(self):
        engine = book_with_asks((1, 2, 100, 3), (2, 1, 100, 5), (3, 2, 101, 5))
        events = engine.handle(limit(10, 1, BUY, 101, 8, tif=FOK, stp=EXPIRE_MAKER))
        assert fills(events) == [(1, 100, 3), (3, 101, 5)]
        assert (done(events, 2).status, done(events, 2).reason) == ("expired", "self_trade")
        assert done(events, 10).status == "filled"
        assert engine.asks.depth() == []

    def test_expire_maker_does_not_count_its_own_orders_as_liquidity(self):
        engine = book_with_asks((1, 2, 100, 3), (2, 1, 100, 5))
        events = engine.handle(limit(10, 1, BUY, 100, 4, tif=FOK, stp=EXPIRE_MAKER))
        assert kinds(events) == ["Accepted", "Done"] and events[1].reason == "fok"
        assert engine.order_row(2) is not None


def test_post_only_that_would_trade_is_rejected_not_repriced():
    engine = book_with_asks((1, 1, 100, 4))
    before = engine.export()[0]
    [rejected] = engine.handle(limit(2, 2, BUY, 100, 1, post_only=True))
    assert (rejected.order_id, rejected.reason) == (2, "post_only_would_trade")
    assert engine.export()[0] == before
    assert kinds(engine.handle(limit(3, 2, BUY, 99, 1, post_only=True))) == ["Accepted", "LevelChanged"]


class TestSelfTradePrevention:
    def test_expire_taker_stops_the_taker_and_keeps_the_maker(self):
        engine = book_with_asks((1, 2, 100, 3), (2, 1, 100, 5), (3, 2, 100, 5))
        events = engine.handle(limit(10, 1, BUY, 100, 10))  # GTC, default STP
        assert fills(events) == [(1, 100, 3)]
        assert done(events, 10) == Done(10, 10, 1, "expired", 3, 300, 7, "self_trade", 0)
        assert engine.order_row(10) is None, "the taker does not rest"
        assert engine.order_row(2).remaining == 5
        assert engine.asks.depth() == [(100, 10)]

    def test_expire_maker_expires_own_orders_and_goes_on(self):
        engine = book_with_asks((1, 1, 100, 5), (2, 2, 100, 5))
        events = engine.handle(limit(10, 1, BUY, 100, 4, stp=EXPIRE_MAKER))
        assert kinds(events) == ["Accepted", "Done", "Trade", "Done", "LevelChanged"]
        assert done(events, 1) == Done(6, 1, 1, "expired", 0, 0, 5, "self_trade", 0)
        assert fills(events) == [(2, 100, 4)]
        assert engine.asks.depth() == [(100, 1)]

    def test_expire_both_expires_both(self):
        engine = book_with_asks((1, 2, 100, 2), (2, 1, 100, 5), (3, 2, 100, 5))
        events = engine.handle(limit(10, 1, BUY, 100, 10, stp=EXPIRE_BOTH))
        assert fills(events) == [(1, 100, 2)]
        assert (done(events, 2).status, done(events, 2).reason) == ("expired", "self_trade")
        assert (done(events, 10).status, done(events, 10).reason) == ("expired", "self_trade")
        assert engine.asks.depth() == [(100, 5)]
        assert engine.bids.depth() == []


class TestMarketBuyWithQuoteLimit:
    SPEC = MarketSpec("BTC-USD", taker_fee_ppm=10_000)  # 1%

    def test_spends_no_more_than_its_limit_fees_included(self):
        engine = book_with_asks((1, 1, 100, 5), (2, 1, 110, 5), spec=self.SPEC)
        events = engine.handle(market(3, 2, BUY, None, quote_limit=1_000))
        # 5 @ 100 cost 500 + 5 fee; 495 left buys 4 @ 110 (440 + 5 fee) but not 5 (550 + 6).
        assert fills(events) == [(1, 100, 5), (2, 110, 4)]
        spent = sum(trade.quote + trade.taker_fee for trade in of(events, Trade))
        assert spent == 950 <= 1_000
        assert done(events, 3) == Done(9, 3, 2, "filled", 9, 940, None, None, 0)

    def test_the_fee_counts_against_the_limit(self):
        # Without the fee, 500 would buy 5 @ 100.
        engine = book_with_asks((1, 1, 100, 5), spec=self.SPEC)
        events = engine.handle(market(2, 2, BUY, None, quote_limit=500))
        assert fills(events) == [(1, 100, 4)]

    def test_a_qty_is_filled_if_funds_allow(self):
        engine = book_with_asks((1, 1, 100, 5), spec=self.SPEC)
        events = engine.handle(market(2, 2, BUY, 3, quote_limit=1_000))
        assert done(events, 2) == Done(5, 2, 2, "filled", 3, 300, 0, None, 0)

    def test_a_qty_beyond_its_funds_expires(self):
        engine = book_with_asks((1, 1, 100, 5), spec=self.SPEC)
        events = engine.handle(market(2, 2, BUY, 5, quote_limit=304))
        assert fills(events) == [(1, 100, 3)]
        assert (done(events, 2).status, done(events, 2).reason, done(events, 2).remaining_qty) == (
            "expired",
            "quote_limit",
            2,
        )

    def test_funds_too_small_for_one_step_expire_unfilled(self):
        engine = book_with_asks((1, 1, 100, 5), spec=self.SPEC)
        events = engine.handle(market(2, 2, BUY, None, quote_limit=100))
        assert kinds(events) == ["Accepted", "Done"]
        assert (events[1].status, events[1].reason) == ("expired", "quote_limit")

    def test_fok_respects_the_funds(self):
        engine = book_with_asks((1, 1, 100, 5), spec=self.SPEC)
        assert done(engine.handle(market(2, 2, BUY, 5, tif=FOK, quote_limit=504)), 2).reason == "fok"
        assert done(engine.handle(market(3, 2, BUY, 5, tif=FOK, quote_limit=505)), 3).status == "filled"


def test_fees_are_rounded_up_per_fill():
    spec = MarketSpec("BTC-USD", quote_per_tick_step=3, maker_fee_ppm=1, taker_fee_ppm=2_500)
    engine = book_with_asks((1, 1, 100, 1), spec=spec)
    [trade] = of(engine.handle(limit(2, 2, BUY, 100, 1)), Trade)
    # quote 300: maker 300 * 1e-6 -> 1, taker 300 * 0.0025 = 0.75 -> 1
    assert (trade.quote, trade.maker_fee, trade.taker_fee) == (300, 1, 1)
    engine = book_with_asks((1, 1, 401, 1), spec=MarketSpec("BTC-USD", taker_fee_ppm=2_500))
    [trade] = of(engine.handle(limit(2, 2, BUY, 401, 1)), Trade)
    assert trade.taker_fee == 2  # 1.0025 -> 2
    engine = book_with_asks((1, 1, 400, 1), spec=MarketSpec("BTC-USD", taker_fee_ppm=2_500))
    [trade] = of(engine.handle(limit(2, 2, BUY, 400, 1)), Trade)
    assert trade.taker_fee == 1  # exactly 1: no rounding


def test_a_level_emptied_by_cancels_is_skipped_by_takers():
    engine = book_with_asks((1, 1, 100, 5), (2, 1, 100, 5), (9, 1, 100, 1), (3, 2, 101, 5))
    run(engine, Cancel(1, 1, 0), Cancel(9, 1, 0), Cancel(2, 1, 0))
    assert engine.asks.depth() == [(101, 5)]
    assert fills(engine.handle(limit(4, 3, BUY, 101, 1))) == [(3, 101, 1)]


def test_every_event_takes_the_next_seq():
    engine = Engine(SPEC)
    events = run(
        engine,
        limit(1, 1, SELL, 100, 5),
        limit(1, 1, SELL, 100, 5),  # rejected: duplicate
        limit(2, 2, BUY, 101, 8),
        Cancel(2, 2, 0),
        Cancel(2, 2, 0),  # rejected: unknown
        market(3, 3, SELL, 1),
    )
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
