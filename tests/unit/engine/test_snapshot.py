import pytest

from streams.engine import BUY, SELL, Engine, MarketSpec, MarketState, OrderRow

from .support import SPEC, limit, run


def test_order_row_follows_fills_and_disappears_when_done():
    engine = Engine(SPEC)
    run(engine, limit(1, 7, SELL, 100, 5, ts=11), limit(2, 8, BUY, 100, 2, ts=12))
    assert engine.order_row(1) == OrderRow(1, 7, SELL, 100, 5, 3, 2, 200, 11, 1)
    run(engine, limit(3, 8, BUY, 100, 3))
    assert engine.order_row(1) is None
    assert engine.order_row(12345) is None


def test_export_lists_resting_orders_in_arrival_order_with_the_seq():
    engine = Engine(SPEC)
    run(engine, limit(5, 7, BUY, 99, 1), limit(3, 8, SELL, 101, 2), limit(4, 7, BUY, 99, 3))
    rows, state = engine.export()
    assert [row.order_id for row in rows] == [5, 3, 4]
    assert state == MarketState("BTC-USD", 6)


def test_restore_keeps_time_priority_and_the_sequence():
    engine = Engine(SPEC)
    run(engine, limit(1, 7, SELL, 100, 5), limit(2, 8, SELL, 100, 5), limit(3, 9, BUY, 100, 2))
    rows, state = engine.export()
    restored = Engine.restore(SPEC, list(reversed(rows)), state)
    command = limit(4, 9, BUY, 100, 6)
    assert restored.handle(command) == engine.handle(command)


def test_restore_refuses_another_markets_state():
    with pytest.raises(ValueError):
        Engine.restore(MarketSpec("ETH-USD"), [], MarketState("BTC-USD", 3))
