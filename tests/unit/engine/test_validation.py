import pytest

from streams.engine import (
    BUY,
    FOK,
    GTC,
    IOC,
    SELL,
    Accepted,
    Engine,
    MarketSpec,
    Place,
    Rejected,
)

from .support import SPEC, check_book, limit, market

VALID_LIMIT = limit(1, 7, BUY, 100, 5, ts=3)
VALID_MARKET_BUY = market(1, 7, BUY, None, quote_limit=1_000, ts=3)


@pytest.mark.parametrize(
    "place, reason",
    [
        (VALID_LIMIT._replace(order_id="1"), "invalid_order_id"),
        (VALID_LIMIT._replace(order_id=True), "invalid_order_id"),
        (VALID_LIMIT._replace(account=None), "invalid_account"),
        (VALID_LIMIT._replace(account=[7]), "invalid_account"),
        (VALID_LIMIT._replace(side="BUY"), "invalid_side"),
        (VALID_LIMIT._replace(type="stop"), "invalid_type"),
        (VALID_LIMIT._replace(tif="GTD"), "invalid_time_in_force"),
        (market(1, 7, SELL, 5, tif=GTC), "invalid_time_in_force"),
        (VALID_LIMIT._replace(price=0), "invalid_price"),
        (VALID_LIMIT._replace(price=-1), "invalid_price"),
        (VALID_LIMIT._replace(price=100.0), "invalid_price"),
        (VALID_LIMIT._replace(price=None), "invalid_price"),
        (market(1, 7, SELL, 5)._replace(price=100), "invalid_price"),
        (VALID_LIMIT._replace(qty=0), "invalid_qty"),
        (VALID_LIMIT._replace(qty=-5), "invalid_qty"),
        (VALID_LIMIT._replace(qty=5.0), "invalid_qty"),
        (VALID_LIMIT._replace(qty=None), "invalid_qty"),
        (market(1, 7, SELL, None), "invalid_qty"),
        (market(1, 7, BUY, None), "invalid_qty"),
        (VALID_LIMIT._replace(quote_limit=1_000), "invalid_quote_limit"),
        (market(1, 7, SELL, 5, quote_limit=1_000), "invalid_quote_limit"),
        (VALID_MARKET_BUY._replace(quote_limit=0), "invalid_quote_limit"),
        (VALID_MARKET_BUY._replace(quote_limit="1000"), "invalid_quote_limit"),
        (VALID_LIMIT._replace(tif=IOC, post_only=True), "invalid_post_only"),
        (VALID_LIMIT._replace(tif=FOK, post_only=True), "invalid_post_only"),
        (market(1, 7, SELL, 5, post_only=True), "invalid_post_only"),
        (VALID_LIMIT._replace(post_only=1), "invalid_post_only"),
        (VALID_LIMIT._replace(stp="cancel_newest"), "invalid_stp"),
        (VALID_LIMIT._replace(ts=-1), "invalid_timestamp"),
        (VALID_LIMIT._replace(ts="now"), "invalid_timestamp"),
    ],
)
def test_malformed_places_are_rejected_with_a_reason(place, reason):
    engine = Engine(SPEC)
    assert engine.handle(place) == [Rejected(1, place.order_id, place.account, reason, place.ts)]
    assert engine.export() == ([], engine.state())


def test_the_first_faulty_field_gives_the_reason():
    place = VALID_LIMIT._replace(side="up", price=-1, qty=0)
    assert Engine(SPEC).handle(place)[0].reason == "invalid_side"


def test_market_spec_bounds_apply():
    engine = Engine(MarketSpec("BTC-USD", min_qty=10, max_price=1_000))
    assert engine.handle(limit(1, 7, BUY, 1_001, 10))[0].reason == "invalid_price"
    assert engine.handle(limit(2, 7, BUY, 1_000, 9))[0].reason == "invalid_qty"
    assert type(engine.handle(limit(3, 7, BUY, 1_000, 10))[0]).__name__ == "Accepted"


def test_an_id_that_is_resting_is_a_duplicate_but_a_finished_one_may_return():
    engine = Engine(SPEC)
    engine.handle(limit(1, 7, SELL, 100, 5))
    assert engine.handle(limit(1, 8, BUY, 90, 5))[0].reason == "duplicate_order_id"
    engine.handle(limit(2, 8, BUY, 100, 5))  # fills order 1
    assert type(engine.handle(limit(1, 8, BUY, 90, 5))[0]).__name__ == "Accepted"


@pytest.mark.parametrize("garbage", [None, "place", 42, ("place", 1), Place])
def test_what_is_not_a_command_is_rejected_not_raised(garbage):
    engine = Engine(SPEC)
    assert engine.handle(garbage) == [Rejected(1, None, None, "unknown_command", None)]


def test_values_of_any_json_type_never_raise():
    engine = Engine(SPEC)
    oddities = [None, True, 1.5, -1, 0, "x", [], {}, [1], {"a": 1}, 10**30]
    for field in Place._fields:
        for odd in oddities:
            for base in (VALID_LIMIT, VALID_MARKET_BUY):
                events = engine.handle(base._replace(**{field: odd}))
                assert type(events[0]) in (Accepted, Rejected)
    check_book(engine)
