import pytest

from streams.engine import BUY, NO_MARKET_SEQ, SELL, Cancel, CancelAll, MarketSpec, Matcher, Rejected

from .support import limit


def matcher():
    return Matcher([MarketSpec("BTC-USD"), MarketSpec("ETH-USD")])


def test_commands_go_to_their_markets_engine_with_its_own_seq():
    front = matcher()
    btc = front.handle(limit(1, 7, BUY, 100, 1, market="BTC-USD"))
    eth = front.handle(limit(2, 7, SELL, 100, 1, market="ETH-USD"))
    assert [event.seq for event in btc] == [1, 2]
    assert [event.seq for event in eth] == [1, 2]
    assert front.engines["BTC-USD"].bids.depth() == [(100, 1)]
    assert front.engines["ETH-USD"].asks.depth() == [(100, 1)]


@pytest.mark.parametrize(
    "command",
    [
        limit(1, 7, BUY, 100, 1, market="DOGE-USD"),
        limit(1, 7, BUY, 100, 1),
        Cancel(1, 7, 5, market=["BTC-USD"]),
        CancelAll(7, 5, market="btc-usd"),
    ],
)
def test_an_unknown_market_is_rejected_outside_any_markets_sequence(command):
    front = matcher()
    [rejected] = front.handle(command)
    assert rejected == Rejected(NO_MARKET_SEQ, getattr(command, "order_id", None), 7, "unknown_market", command.ts)
    assert all(engine.seq == 0 for engine in front.engines.values())


def test_a_market_given_twice_is_a_configuration_error():
    with pytest.raises(ValueError):
        Matcher([MarketSpec("BTC-USD"), MarketSpec("BTC-USD")])
