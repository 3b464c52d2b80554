"""The order flow through real Kafka and real worker processes: money, books, kill -9, scaling."""

from __future__ import annotations

import random

from aiokafka import AIOKafkaProducer

from exchange.commands import deposit, place
from schemas.codec import codec
from schemas.topics import COMMANDS, DEAD_LETTERS, FEE_ACCOUNT
from tests import checks

from .flow import define_markets, outcome, read_topic, suffix, wait_until_quiet

async def test_a_trade_settles_exactly_as_computed_by_hand(infra, producer, workers):
    tag = suffix()
    markets = await define_markets(infra, tag)
    market = next(m for m in markets.values() if m["partition"] == 0)  # tick 0.01, step 0.001
    base, quote = market["base"], market["quote"]
    alice, bob = f"alice-{tag}", f"bob-{tag}"
    ask, bid = random.randrange(10**12), random.randrange(10**12)  # order ids are global
    workers.start("a")
    await producer.send([deposit(alice, quote, 1_000_000_000), deposit(bob, base, 10_000_000_000)])
    await producer.send([place(bob, ask, market["symbol"], "sell", 15000, 2000)])  # 2 at 150
    await wait_until_quiet(infra, workers)
    await producer.send([place(alice, bid, market["symbol"], "buy", 15100, 1000)])  # 1 at 151
    await wait_until_quiet(infra, workers)

    result = await outcome(infra, markets, {alice, bob})
    # 1 at bob's 150 = 150 quote units = 150_000_000 atoms; fees 0.1% maker, 0.2% taker.
    assert result.accounts[alice]["balances"] == {
        quote: {"available": 1_000_000_000 - 150_000_000 - 300_000, "held": 0},
        base: {"available": 1_000_000_000, "held": 0}}
    assert result.accounts[bob]["balances"] == {
        base: {"available": 8_000_000_000, "held": 1_000_000_000},
        quote: {"available": 150_000_000 - 150_000, "held": 0}}
    assert result.accounts[FEE_ACCOUNT]["balances"] == {quote: {"available": 450_000, "held": 0}}
    [trade] = result.trades.values()
    assert (trade["price"], trade["quantity"], trade["maker_fee"], trade["taker_fee"]) == (15000, 1000, 150_000, 300_000)
    assert [(r.order_id, r.account, r.side, r.price, r.remaining, r.filled_quote)
            for r in result.books[market["symbol"]]] == [(ask, bob, "sell", 15000, 1000, 150_000_000)]
    checks.assert_money_conserved(result.accounts)


async def test_garbage_goes_to_the_dead_letter_topic_and_the_worker_carries_on(infra, producer, workers):
    tag = suffix()
    markets = await define_markets(infra, tag)
    quote = next(iter(markets.values()))["quote"]
    account = f"carol-{tag}"
    workers.start("a")
    raw = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await raw.start()
    try:
        junk = f"not avro {tag}".encode()
        await raw.send_and_wait(COMMANDS.name, junk, key=account.encode())
        wrong_type = codec.encode("exchange.Balance", {"asset": "X", "available": 1, "held": 0})
        await raw.send_and_wait(COMMANDS.name, wrong_type, key=account.encode())
    finally:
        await raw.stop()
    await producer.send([deposit(account, quote, 42)])
    await wait_until_quiet(infra, workers)

    letters = [codec.decode_as(DEAD_LETTERS.record, v) for _, v in await read_topic(infra, DEAD_LETTERS.name)]
    # At least once: a rebalance may hand a message over before its offset was committed, so a
    # dead letter can repeat; its source position says which message it was.
    ours = {(letter["partition"], letter["offset"]): letter for letter in letters
            if letter["key"] == account.encode()}
    ours = [ours[position] for position in sorted(ours)]
    assert [letter["value"] for letter in ours] == [junk, wrong_type]
    assert "marker" in ours[0]["reason"] and "expected exchange.CommandBatch" in ours[1]["reason"]
    result = await outcome(infra, markets, {account})
    assert result.accounts[account]["balances"] == {quote: {"available": 42, "held": 0}}
