"""The order flow through real Kafka and real worker processes: money, books, kill -9, scaling."""

from __future__ import annotations

import random

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from exchange.commands import deposit, place
from schemas.codec import codec
from schemas.topics import COMMANDS, DEAD_LETTERS, FEE_ACCOUNT
from streams.worker import APP_ID
from tests import checks

from .flow import define_markets, outcome, read_partitions, read_topic, suffix, wait_until_quiet


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
    assert ((trade["price"], trade["quantity"], trade["maker_fee"], trade["taker_fee"])
            == (15000, 1000, 150_000, 300_000))
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


async def test_rows_and_commands_with_the_byte_reversed_header_are_restored_and_applied(infra, producer, workers):
    """Changelog rows and commands written while the exchange reversed the fingerprint's bytes in
    the header: a worker with no files of its own restores them, and applies such a command."""
    tag = suffix()
    markets = await define_markets(infra, tag)
    market = next(m for m in markets.values() if m["partition"] == 0)  # tick 0.01, step 0.001
    base, quote = market["base"], market["quote"]
    alice, bob = f"alice-{tag}", f"bob-{tag}"
    ask, bid = random.randrange(10**12), random.randrange(10**12)
    workers.start("a")
    await producer.send([deposit(alice, quote, 1_000_000_000), deposit(bob, base, 10_000_000_000)])
    await producer.send([place(bob, ask, market["symbol"], "sell", 15000, 2000)])
    await wait_until_quiet(infra, workers)
    workers.stop("a")

    changelogs = [t for t in await list_topics(infra) if t.startswith(f"{APP_ID}-") and t.endswith("-changelog")]
    assert await rewrite_with_reversed_headers(infra, changelogs, tag) > 0
    alices = [value for key, value in await read_topic(infra, f"{APP_ID}-accounts-changelog") if key == alice.encode()]
    assert alices[-1][2:10] == codec.header("exchange.AccountState")[2:10][::-1], "her newest row has the old header"
    legacy = reversed_header(codec.encode(COMMANDS.record, {"commands": [
        place(alice, bid, market["symbol"], "buy", 15100, 1000)]}))
    raw = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await raw.start()
    try:
        await raw.send_and_wait(COMMANDS.name, legacy, key=alice.encode())
    finally:
        await raw.stop()
    workers.start("b")  # a new name: no RocksDB files, every row comes from the changelogs
    await wait_until_quiet(infra, workers)

    result = await outcome(infra, markets, {alice, bob})
    [trade] = result.trades.values()
    assert (trade["price"], trade["quantity"], trade["taker_order_id"]) == (15000, 1000, bid)
    assert result.accounts[alice]["balances"][quote] == {"available": 1_000_000_000 - 150_000_000 - 300_000,
                                                          "held": 0}
    assert result.accounts[bob]["balances"][base] == {"available": 8_000_000_000, "held": 1_000_000_000}
    checks.assert_money_conserved(result.accounts)


def reversed_header(message: bytes) -> bytes:
    return message[:2] + message[2:10][::-1] + message[10:]


async def list_topics(settings) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()


async def rewrite_with_reversed_headers(settings, topics: list[str], tag: str) -> int:
    """Append to each partition a copy of every message of one test (its key or value names the
    tag) with the old header, in the same order, so the newest value of each of its keys is one the
    old code wrote. Returns how many were copied."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    copied = 0
    try:
        for topic in topics:
            for partition, key, value in await read_partitions(settings, topic):
                if tag in key.decode() or (value is not None and tag in str(codec.decode(value))):
                    await producer.send(topic, None if value is None else reversed_header(value), key=key,
                                        partition=partition)
                    copied += 1
        await producer.flush()
    finally:
        await producer.stop()
    return copied
