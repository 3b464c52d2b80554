"""Long runs through real worker processes: 20,000 random commands undisturbed, with three
kill -9s and with three graceful stops in the middle of the work, partitions moving between
workers as they stop and join, and a worker frozen with SIGSTOP."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import httpx
import pytest

from exchange.commands import deposit
from exchange.up import worker_ready
from infra.local.ports import free_port
from schemas.topics import account_partition
from tests import checks, workload
from tests.integration.flow import define_markets, outcome, session_over_s, suffix, wait_until_quiet

pytestmark = pytest.mark.runs

RANDOM_COMMANDS = 20_000


async def run_workload(infra, producer, workers, seed: int, kills: int, graceful: bool = False) -> tuple:
    """One randomized run; with kills > 0 a worker is SIGKILLed (or, `graceful`, SIGTERMed) that
    many times and restarted."""
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
            if graceful:
                # The worker leaves the group as it stops: it can come back at once.
                workers.stop("k")
                workers.start("k")
                continue
            workers.kill("k")
            # Restart once the group has dropped the dead member, as a supervisor with a restart
            # delay would.
            await asyncio.sleep(session_over_s(infra))
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
    account_role = {name: f"{markets[m]['partition']}:{i}"
                    for m, names in accounts.items() for i, name in enumerate(names)}
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


@pytest.mark.timeout(2400)
async def test_a_run_with_kill_9s_ends_exactly_like_an_undisturbed_run(infra, producer, workers, capsys):
    calm = await run_workload(infra, producer, workers, seed=7, kills=0)
    stormy = await run_workload(infra, producer, workers, seed=7, kills=3)
    _assert_same_outcome(calm, stormy, "3 kill -9", capsys)


@pytest.mark.timeout(2400)
async def test_a_run_with_graceful_stops_mid_batch_ends_exactly_like_an_undisturbed_run(infra, producer, workers,
                                                                                         capsys):
    """Deploys and operators stop workers far more often than kill -9 does: on SIGTERM Faust flushes
    its producer, stops the agents wherever they are (mostly in the middle of a batch) and then
    commits what was acknowledged. Nothing may be lost or applied twice."""
    calm = await run_workload(infra, producer, workers, seed=5, kills=0)
    stopped = await run_workload(infra, producer, workers, seed=5, kills=3, graceful=True)
    _assert_same_outcome(calm, stopped, "3 graceful stops", capsys)


def _assert_same_outcome(calm, disturbed, disturbance: str, capsys) -> None:
    """Both runs are consistent and busy, end with the same trades, books and balances, and
    their times are printed."""
    for name, (markets, _accounts, result, _elapsed, _base) in (("undisturbed", calm), (disturbance, disturbed)):
        checks.assert_consistent(markets, result.accounts, result.books, result.trades, result.order_batches)
        assert len(result.trades) > 1000, f"the {name} run made only {len(result.trades)} trades"
    assert normalised(*_without_time(calm)) == normalised(*_without_time(disturbed))
    with capsys.disabled():
        print(f"\n{RANDOM_COMMANDS} commands, {len(calm[2].trades)} trades: undisturbed {calm[3]:.1f}s, "
              f"with {disturbance} {disturbed[3]:.1f}s")


def _without_time(run):
    markets, accounts, result, _elapsed, base = run
    return markets, accounts, result, base


@pytest.mark.timeout(1200)
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
    # Once it runs: sent sooner, the last third can all be done by "two" while "three" still
    # restores its tables, leaving the newcomer nothing to do.
    deadline = time.monotonic() + 180
    while not worker_ready(workers.logs / "worker-three.log"):
        workers.check_alive()
        assert time.monotonic() < deadline, "the newcomer never became ready"
        await asyncio.sleep(0.5)
    for batch in batches[2 * third:]:
        await producer.send(batch)
    await wait_until_quiet(infra, workers)
    names = {a for names in accounts.values() for a in names}
    result = await outcome(infra, markets, names)
    checks.assert_consistent(markets, result.accounts, result.books, result.trades, result.order_batches)
    assert len(result.trades) > 200
    # The newcomer runs books of its own: Faust logs each matching actor it starts.
    assert "Starting actor for partitions" in workers.log_text("three")


@pytest.mark.timeout(600)
async def test_a_stopped_worker_fails_its_liveness_probe_and_its_partitions_move(infra, producer, workers):
    """SIGSTOP: the process and its event loop stand still. Its probe gets no answer while the
    other worker's says healthy, and the other worker takes its partitions and does their work."""
    tag = suffix()
    markets = await define_markets(infra, tag)
    quote = next(iter(markets.values()))["quote"]
    accounts, covered = [], set()
    for n in range(1000):  # one account in each partition, so whichever the stopped worker had
        name = f"live-{tag}-{n}"
        if account_partition(name, infra.partitions) not in covered:
            covered.add(account_partition(name, infra.partitions))
            accounts.append(name)
    ports = {"a": free_port(), "b": free_port()}
    for name, port in ports.items():
        workers.start(name, "worker", "--metrics-port", str(port))
    await producer.send([deposit(account, quote, 1) for account in accounts])
    await wait_until_quiet(infra, workers)
    assert all(_live(port) for port in ports.values())

    os.kill(workers.procs["a"].pid, signal.SIGSTOP)
    try:
        assert not _live(ports["a"]) and _live(ports["b"])
        started = time.monotonic()
        await producer.send([deposit(account, quote, 2) for account in accounts])
        await wait_until_quiet(infra, workers, timeout=120)
        moved_after = time.monotonic() - started
        assert not _live(ports["a"]) and _live(ports["b"])
    finally:
        workers.kill("a")  # SIGKILL ends a stopped process too
    result = await outcome(infra, markets, set(accounts))
    assert {a: result.accounts[a]["balances"] for a in accounts} == {
        a: {quote: {"available": 3, "held": 0}} for a in accounts}
    print(f"\nthe stopped worker's partitions were served again after {moved_after:.1f}s")


def _live(port: int) -> bool:
    """The liveness probe as Kubernetes runs it: an answer of 200 within a second."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
