"""The order flow through real Kafka and real worker processes: money, books, kill -9, scaling."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from aiokafka import AIOKafkaProducer

from exchange.commands import CommandProducer, deposit, place
from schemas.codec import codec
from schemas.topics import COMMANDS, DEAD_LETTERS, FEE_ACCOUNT
from tests import checks, workload

from .flow import Workers, define_markets, outcome, read_topic, suffix, wait_until_quiet

RANDOM_COMMANDS = 20_000


@pytest.fixture
async def producer(infra):
    commands = CommandProducer(infra)
    await commands.start()
    yield commands
    await commands.stop()


@pytest.fixture
def workers(infra, tmp_path):
    running = Workers(infra, tmp_path / "workers")
    yield running
    running.stop_all()


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
    ours = [letter for letter in letters if letter["key"] == account.encode()]
    assert [letter["value"] for letter in ours] == [junk, wrong_type]
    assert "marker" in ours[0]["reason"] and "expected exchange.CommandBatch" in ours[1]["reason"]
    result = await outcome(infra, markets, {account})
    assert result.accounts[account]["balances"] == {quote: {"available": 42, "held": 0}}


async def run_workload(infra, producer, workers, seed: int, kills: int) -> tuple:
    """One randomized run; with kills > 0 a worker is SIGKILLed that many times and restarted."""
    tag = suffix()
    markets = await define_markets(infra, tag)
    accounts = workload.traders(markets, infra.partitions, per_market=8, prefix=f"w{tag}")
    batches = workload.random_workload(seed, markets, accounts, RANDOM_COMMANDS, first_order_id=0, batch_size=100)
    # Order ids are global: give each run its own range.
    base = random.randrange(10**12)
    for batch in batches:
        for command in batch:
            if command["body"][0] in ("exchange.PlaceOrder", "exchange.CancelOrder"):
                command["body"][1]["order_id"] += base
    kill_at = sorted(random.Random(seed).sample(range(10, len(batches) - 10), kills))
    workers.start("k")
    started = time.monotonic()
    for index, batch in enumerate(batches):
        await producer.send(batch)
        if index in kill_at:
            await asyncio.sleep(random.uniform(0.0, 1.5))  # strike at some moment of the processing
            workers.kill("k")
            # Restart once the group has dropped the dead member (session timeout 10 s), as a
            # supervisor with a restart delay would: an instant restart rebalances twice, and
            # faust-streaming 0.15 can then fail to reopen its own RocksDB partitions (lock held).
            await asyncio.sleep(12)
            workers.start("k")
    await wait_until_quiet(infra, workers)
    elapsed = time.monotonic() - started
    workers.stop("k")
    names = {a for names in accounts.values() for a in names}
    return markets, accounts, await outcome(infra, markets, names), elapsed, base


def normalised(markets, accounts, result, base) -> dict:
    """The run's results with its own names and ids replaced by positions, to compare two runs."""
    by_partition = {m["partition"]: symbol for symbol, m in markets.items()}
    asset_role = {}
    for partition, symbol in by_partition.items():
        asset_role[markets[symbol]["base"]] = f"base{partition}"
        asset_role[markets[symbol]["quote"]] = f"quote{partition % 2}"
    account_role = {name: f"{markets[m]['partition']}:{i}" for m, names in accounts.items() for i, name in enumerate(names)}
    market_role = {symbol: p for p, symbol in by_partition.items()}
    return {
        "trades": {(market_role[m], tid): (t["price"], t["quantity"], t["maker_order_id"] - base,
                                          t["taker_order_id"] - base, t["maker_fee"], t["taker_fee"])
                   for (m, tid), t in result.trades.items()},
        "books": {market_role[m]: [(r.order_id - base, account_role[r.account], r.side, r.price, r.remaining)
                                   for r in rows] for m, rows in result.books.items()},
        "balances": {account_role.get(name, name): {asset_role[a]: b for a, b in state["balances"].items()}
                     for name, state in result.accounts.items()},
    }


async def test_a_run_with_kill_9s_ends_exactly_like_an_undisturbed_run(infra, producer, workers, capsys):
    calm = await run_workload(infra, producer, workers, seed=7, kills=0)
    stormy = await run_workload(infra, producer, workers, seed=7, kills=3)
    for name, (markets, accounts, result, elapsed, base) in (("undisturbed", calm), ("killed", stormy)):
        checks.assert_consistent(markets, result.accounts, result.books, result.trades, result.order_batches)
        assert len(result.trades) > 1000, f"the {name} run made only {len(result.trades)} trades"
    assert normalised(*_without_time(calm)) == normalised(*_without_time(stormy))
    with capsys.disabled():
        print(f"\n{RANDOM_COMMANDS} commands, {len(calm[2].trades)} trades: undisturbed {calm[3]:.1f}s, "
              f"with 3 kill -9 {stormy[3]:.1f}s")


def _without_time(run):
    markets, accounts, result, _elapsed, base = run
    return markets, accounts, result, base


async def test_partitions_move_between_workers_with_their_books(infra, producer, workers):
    tag = suffix()
    markets = await define_markets(infra, tag)
    accounts = workload.traders(markets, infra.partitions, per_market=6, prefix=f"s{tag}")
    batches = workload.random_workload(11, markets, accounts, 6_000, first_order_id=random.randrange(10**12),
                                       batch_size=100)
    third = len(batches) // 3
    workers.start("one")
    workers.start("two")
    for batch in batches[:third]:
        await producer.send(batch)
    workers.stop("one")  # its partitions, books and accounts go to "two"
    for batch in batches[third: 2 * third]:
        await producer.send(batch)
    workers.start("three")  # and some come back to a newcomer
    for batch in batches[2 * third:]:
        await producer.send(batch)
    await wait_until_quiet(infra, workers)
    names = {a for names in accounts.values() for a in names}
    result = await outcome(infra, markets, names)
    checks.assert_consistent(markets, result.accounts, result.books, result.trades, result.order_batches)
    assert len(result.trades) > 200
