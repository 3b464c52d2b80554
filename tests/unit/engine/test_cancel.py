from streams.engine import BUY, SELL, Cancel, CancelAll, Done, Engine, LevelChanged, Rejected

from .support import SPEC, kinds, limit, run


def engine_with(*places):
    engine = Engine(SPEC)
    run(engine, *places)
    return engine


def test_cancel_ends_the_order_and_reports_its_level():
    engine = engine_with(limit(1, 7, BUY, 100, 5), limit(2, 8, BUY, 100, 3))
    assert engine.handle(Cancel(1, 7, 50)) == [
        Done(5, 1, 7, "canceled", 0, 0, 5, "user", 50),
        LevelChanged(6, BUY, 100, 3),
    ]
    assert engine.order_row(1) is None
    assert engine.bids.depth() == [(100, 3)]


def test_cancel_of_a_partly_filled_order_reports_what_filled():
    engine = engine_with(limit(1, 7, SELL, 100, 5), limit(2, 8, BUY, 100, 2))
    [done, level] = engine.handle(Cancel(1, 7, 0))
    assert (done.filled_qty, done.filled_quote, done.remaining_qty) == (2, 200, 3)
    assert level.qty == 0


def test_unknown_finished_and_foreign_orders_all_look_unknown():
    engine = engine_with(limit(1, 7, SELL, 100, 5), limit(2, 8, BUY, 100, 5), limit(3, 7, SELL, 101, 5))
    before = engine.export()[0]
    for cancel in (Cancel(99, 7, 0), Cancel(1, 7, 0), Cancel(3, 8, 0), Cancel("3", 7, 0)):
        [rejected] = engine.handle(cancel)
        assert ((rejected.order_id, rejected.account, rejected.reason)
                == (cancel.order_id, cancel.account, "unknown_order"))
    assert engine.export()[0] == before


def test_cancel_twice_is_unknown_the_second_time():
    engine = engine_with(limit(1, 7, BUY, 100, 5))
    assert kinds(engine.handle(Cancel(1, 7, 0))) == ["Done", "LevelChanged"]
    assert engine.handle(Cancel(1, 7, 0))[0].reason == "unknown_order"


def test_cancel_with_a_bad_timestamp_is_rejected():
    engine = engine_with(limit(1, 7, BUY, 100, 5))
    assert engine.handle(Cancel(1, 7, -1)) == [Rejected(3, 1, 7, "invalid_timestamp", -1)]
    assert engine.handle(CancelAll(7, None)) == [Rejected(4, None, 7, "invalid_timestamp", None)]
    assert engine.order_row(1) is not None


def test_cancel_all_cancels_in_arrival_order_then_reports_levels_first_touched_first():
    engine = engine_with(
        limit(1, 7, BUY, 99, 1),
        limit(2, 8, BUY, 99, 2),
        limit(3, 7, SELL, 105, 3),
        limit(4, 7, BUY, 99, 4),
        limit(5, 7, BUY, 98, 5),
    )
    events = engine.handle(CancelAll(7, 9))
    assert [(e.order_id, e.status) for e in events if type(e) is Done] == [
        (1, "canceled"),
        (3, "canceled"),
        (4, "canceled"),
        (5, "canceled"),
    ]
    assert [(e.side, e.price, e.qty) for e in events if type(e) is LevelChanged] == [
        (BUY, 99, 2),
        (SELL, 105, 0),
        (BUY, 98, 0),
    ]
    assert [e.seq for e in events] == list(range(11, 18))
    assert list(engine.orders) == [2]


def test_cancel_all_with_nothing_resting_emits_nothing():
    engine = engine_with(limit(1, 7, BUY, 99, 1))
    assert engine.handle(CancelAll(8, 0)) == []
    assert engine.seq == 2


def test_many_cancels_behind_a_resting_head_do_not_pile_up():
    engine = engine_with(limit(1, 7, BUY, 99, 1))
    for order_id in range(2, 1_000):
        run(engine, limit(order_id, 8, BUY, 99, 1), Cancel(order_id, 8, 0))
    level = engine.bids.levels[-99]
    assert len(level.orders) < 10
    assert engine.bids.depth() == [(99, 1)]
