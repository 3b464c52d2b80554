"""The read side through real Kafka, Cassandra and worker processes: every row exactly once and
as the events say, through a recorder kill -9, a Cassandra outage and a replay of the whole run."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from exchange.commands import deposit, place
from exchange.db import cluster, migrate
from exchange.reports import reconcile, summed
from infra.local.cassandra import CassandraNode
from infra.local.toolchain import find_java
from schemas.codec import codec
from schemas.topics import DEPTH, FEE_ACCOUNT, ORDER_UPDATES
from streams.depth_book import DepthBook
from streams.marketdata import INTERVALS, MINUTE_MS
from streams.notifier import order_notification
from streams.read_model import day_of, fill_legs
from streams.read_worker import READ_APP_ID, RECORDED
from tests import workload

from .flow import define_markets, market_records, outcome, session_over_s, suffix, wait_until_quiet

RECORDER_INPUTS = tuple(topic.name for topic in RECORDED)
COMMANDS_PER_RUN = 4000
BATCH_GAP_MS = 20_000  # command time between batches: a run spans many 1m and 5m candles


def _migrate(infra) -> None:
    connection = cluster(infra)
    try:
        migrate(connection.connect(), infra)  # as `exchange db migrate` does
    finally:
        connection.shutdown()


class Run:
    """One randomized run with a recorder, and what it left in Kafka and Cassandra."""

    def __init__(self, infra, producer, workers) -> None:
        self.infra, self.producer, self.workers = infra, producer, workers

    async def go(self, seed: int, middle=None) -> None:
        """Send the workload; `middle` (a coroutine function) runs halfway through, before the rest
        is sent; a coroutine it returns runs while the rest is sent."""
        _migrate(self.infra)
        tag = suffix()
        self.markets = await define_markets(self.infra, tag)
        self.accounts = workload.traders(self.markets, self.infra.partitions, per_market=6, prefix=f"r{tag}")
        batches = workload.random_workload(seed, self.markets, self.accounts, COMMANDS_PER_RUN, first_order_id=0,
                                           batch_size=100)
        base, start = random.randrange(10**12), (int(time.time() * 1000) // MINUTE_MS - 24 * 60) * MINUTE_MS
        self.start_ts = start
        for index, batch in enumerate(batches):
            for command in batch:
                command["ts"] = start + index * BATCH_GAP_MS
                if command["body"][0] in ("exchange.PlaceOrder", "exchange.CancelOrder"):
                    command["body"][1]["order_id"] += base
        depth_start = await self._depth_start()
        meanwhile = None
        self.workers.start("core")
        self.workers.start("recorder", "recorder")
        for index, batch in enumerate(batches):
            await self.producer.send(batch)
            if index == len(batches) // 2:
                self.snapshots = self._depth_snapshots()  # a client's REST snapshot, mid-run
                if middle is not None:
                    then = await middle()
                    meanwhile = asyncio.create_task(then) if then is not None else None
            await asyncio.sleep(0.05)
        if meanwhile is not None:
            await meanwhile
        await self.quiet()
        self.diffs = await self._depth_diffs(depth_start)
        self.names = {a for names in self.accounts.values() for a in names} | {FEE_ACCOUNT}
        self.result = await outcome(self.infra, self.markets, self.names)

    async def recording(self, timeout: float = 180.0) -> None:
        """Until the recorder has written trades of this run: it is up and at work."""
        deadline = time.monotonic() + timeout
        days = {day_of(self.start_ts + i * BATCH_GAP_MS) for i in range(0, 4 * COMMANDS_PER_RUN // 100, 5)}
        while not any(self.select("SELECT trade_id FROM trades_by_market_day WHERE market = %s AND day = %s LIMIT 1",
                                  market, day) for market in self.markets for day in days):
            assert time.monotonic() < deadline, "the recorder wrote no trade"
            self.workers.check_alive()
            await asyncio.sleep(0.5)

    async def quiet(self) -> None:
        await wait_until_quiet(self.infra, self.workers)
        await wait_until_quiet(self.infra, self.workers, group=READ_APP_ID, inputs=RECORDER_INPUTS)

    async def _depth_start(self) -> dict:
        """Where the depth topic ends now: a client opens the stream before fetching a snapshot."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.infra.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            return await consumer.end_offsets([TopicPartition(DEPTH.name, p) for p in range(self.infra.partitions)])
        finally:
            await consumer.stop()

    async def _depth_diffs(self, start: dict) -> dict[str, list[dict]]:
        """Every depth update of this run's markets from `start` on, in order."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.infra.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        diffs: dict[str, list[dict]] = defaultdict(list)
        try:
            consumer.assign(list(start))
            for tp, offset in start.items():
                consumer.seek(tp, offset)
            ends = await consumer.end_offsets(list(start))
            while any([await consumer.position(tp) < ends[tp] for tp in start]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        update = codec.decode_as(DEPTH.record, record.value)
                        if update["market"] in self.markets:
                            diffs[update["market"]].append(update)
        finally:
            await consumer.stop()
        return diffs

    def _depth_snapshots(self) -> dict[str, dict]:
        rows = self.select("SELECT market, snapshot FROM depth_snapshots")
        return {r.market: codec.decode_as("exchange.DepthSnapshot", r.snapshot)
                for r in rows if r.market in self.markets}

    def select(self, cql: str, *params) -> list:
        connection = cluster(self.infra)
        try:
            session = connection.connect(self.infra.cassandra_keyspace)
            return list(session.execute(cql, params))
        finally:
            connection.shutdown()

    def reconciled(self) -> list:
        """`exchange report reconcile` over this run's assets."""
        connection = cluster(self.infra)
        try:
            session = connection.connect(self.infra.cassandra_keyspace)
            return reconcile(session, {a for m in self.markets.values() for a in (m["base"], m["quote"])})
        finally:
            connection.shutdown()

    def tables(self) -> dict[str, set]:
        """Every row of this run in every read table, as comparable tuples."""
        symbols, names = set(self.markets), self.names
        out = {}
        for table, owner in (("trades_by_market_day", "market"), ("trades_by_account", "account"),
                             ("orders_by_account", "account"),
                             ("open_orders_by_account", "account"), ("balances_by_account", "account"),
                             ("ledger_by_account", "account"), ("candles", "market"), ("tickers", "market"),
                             ("depth_snapshots", "market")):
            keep = symbols if owner == "market" else names
            rows = [r for r in self.select(f"SELECT * FROM {table}") if getattr(r, owner) in keep]
            if owner == "account" and table != "balances_by_account":
                # The fee account's rows are shared with other runs: keep this run's markets'.
                rows = [r for r in rows if r.account != FEE_ACCOUNT or _market_of(r) in symbols]
            out[table] = {tuple(r) for r in rows}
        return out


def _market_of(row) -> str:
    if hasattr(row, "market"):
        return row.market
    return row.reference.split()[1] if row.reference.startswith("trade ") else ""


# -- what the rows must be ---------------------------------------------------------------

def check_rows(run: Run) -> None:
    result, markets = run.result, run.markets
    trades = result.trades  # (market, trade_id) -> trade, each once
    assert len(trades) > 200, f"only {len(trades)} trades"
    recorded = {(r.market, r.trade_id): (r.price, r.quantity, r.quote, r.taker_side, r.ts)
                for r in run.select("SELECT * FROM trades_by_market_day") if r.market in markets}
    assert recorded == {key: (t["price"], t["quantity"], t["quote"], t["taker_side"], t["ts"])
                        for key, t in trades.items()}
    fills = [r for r in run.select("SELECT * FROM trades_by_account") if r.market in markets]
    assert sorted((r.market, r.trade_id, r.role) for r in fills) == \
        sorted((m, tid, role) for (m, tid) in trades for role in ("maker", "taker"))

    last: dict[int, dict] = {}
    for batch in run.updates:
        for update in batch["updates"]:
            if update["order_id"] not in last or update["seq"] > last[update["order_id"]]["seq"]:
                last[update["order_id"]] = update
    orders = {r.order_id: r for r in run.select("SELECT * FROM orders_by_account") if r.market in markets}
    assert {i: (r.status, r.filled_quantity, r.filled_quote) for i, r in orders.items()} == \
        {i: (u["status"], u["filled_quantity"], u["filled_quote"]) for i, u in last.items()}
    open_rows = {(r.market, r.order_id) for r in run.select("SELECT * FROM open_orders_by_account")
                 if r.market in markets}
    assert open_rows == {(m, row.order_id) for m, rows in result.books.items() for row in rows}
    # The reconciliation report finds every asset's money where deposits and withdrawals say.
    totals = run.reconciled()
    assert len(totals) == len({a for m in markets.values() for a in (m["base"], m["quote"])})
    assert all(t.deposits > 0 and t.difference == 0 for t in totals), [t for t in totals if t.difference]
    assert any(t.withdrawals > 0 for t in totals) and any(t.fee_income > 0 for t in totals)
    # The asset-reports agent, killed and replayed with the rest, counted the very same totals.
    reported = [t for t in summed(run.select("SELECT * FROM asset_reports")) if t.asset in {t.asset for t in totals}]
    assert reported == totals
    # Every fill and end by the exchange is told once: none lost, none twice (whatever was killed).
    told = [(r.account, r.id) for r in run.select("SELECT * FROM notifications_by_account") if r.market in markets]
    expected = {(note["account"], note["id"]) for batch in run.updates for update in batch["updates"]
                if (note := order_notification(update, markets[update["market"]])) is not None}
    assert len(expected) > 100 and sorted(told) == sorted(expected)

    balances = {(r.account, r.asset): (r.available, r.held) for r in run.select("SELECT * FROM balances_by_account")
                if r.account in run.names and r.account != FEE_ACCOUNT and (r.available, r.held) != (0, 0)}
    assert balances == {(a, asset): (b["available"], b["held"]) for a, s in result.accounts.items()
                        if a != FEE_ACCOUNT for asset, b in s["balances"].items()
                        if (b["available"], b["held"]) != (0, 0)}
    ledger: dict[tuple, int] = defaultdict(int)  # stored entries and the legs derived from fills, as the API shows
    for r in run.select("SELECT * FROM ledger_by_account"):
        if r.account in run.names and r.account != FEE_ACCOUNT:
            ledger[(r.account, r.asset)] += r.amount
    for fill in fills:
        if fill.account in run.names and fill.account != FEE_ACCOUNT:
            for _entry, asset, amount, _kind, _reference in fill_legs(fill, markets[fill.market]):
                ledger[(fill.account, asset)] += amount
    assert {k: v for k, v in ledger.items() if v} == {k: a + h for k, (a, h) in balances.items()}


def expected_candles(trades: list[dict]) -> dict[tuple, tuple]:
    """(interval, open_time) -> (open, high, low, close, volume, quote volume, count), from the trades."""
    out = {}
    for interval, minutes in INTERVALS.items():
        windows: dict[int, list[dict]] = defaultdict(list)
        for t in trades:
            windows[t["ts"] // (minutes * MINUTE_MS) * minutes * MINUTE_MS].append(t)
        for start, inside in windows.items():
            out[(interval, start)] = (inside[0]["price"], max(t["price"] for t in inside),
                                      min(t["price"] for t in inside), inside[-1]["price"],
                                      sum(t["quantity"] for t in inside), sum(t["quote"] for t in inside), len(inside))
    return out


def check_marketdata(run: Run) -> None:
    for market in run.markets:
        trades = sorted((t for (m, _), t in run.result.trades.items() if m == market), key=lambda t: t["trade_id"])
        candles = {(r.interval, r.open_time): (r.open, r.high, r.low, r.close, r.volume, r.quote_volume, r.trade_count)
                   for interval in INTERVALS
                   for r in run.select("SELECT * FROM candles WHERE market = %s AND interval = %s", market, interval)}
        assert candles == expected_candles(trades), market
        [ticker] = run.select("SELECT * FROM tickers WHERE market = %s", market)
        last_minute = trades[-1]["ts"] // MINUTE_MS
        window = [t for t in trades if t["ts"] // MINUTE_MS > last_minute - 1440]
        assert (ticker.open, ticker.high, ticker.low, ticker.last, ticker.volume, ticker.trade_count) == \
            (window[0]["price"], max(t["price"] for t in window), min(t["price"] for t in window),
             window[-1]["price"], sum(t["quantity"] for t in window), len(window))


def check_depth_client(run: Run) -> None:
    """notes/api-conventions.md's algorithm: stream first, then a snapshot, then the diffs."""
    for market, rows in run.result.books.items():
        diffs = run.diffs[market]
        snapshot = run.snapshots.get(market, {"market": market, "last_update_id": 0, "bids": [], "asks": []})
        assert diffs and snapshot["last_update_id"] >= diffs[0]["first_update_id"] - 1
        kept = [d for d in diffs if d["last_update_id"] > snapshot["last_update_id"]]
        assert kept[0]["first_update_id"] <= snapshot["last_update_id"] + 1 <= kept[0]["last_update_id"]
        book = DepthBook.from_snapshot(snapshot)
        for diff in kept:
            book.apply(diff)  # raises on a lost diff
        levels = {"buy": defaultdict(int), "sell": defaultdict(int)}
        for row in rows:
            levels[row.side][row.price] += row.remaining
        final = book.snapshot()
        assert [(lv["price"], lv["quantity"]) for lv in final["bids"]] == sorted(levels["buy"].items(), reverse=True)
        assert [(lv["price"], lv["quantity"]) for lv in final["asks"]] == sorted(levels["sell"].items())
        [stored] = run.select("SELECT snapshot FROM depth_snapshots WHERE market = %s", market)
        assert codec.decode_as("exchange.DepthSnapshot", stored.snapshot) == final


# -- the tests ----------------------------------------------------------------------------

async def _complete(run: Run, seed: int, middle=None) -> None:
    await run.go(seed, middle)
    run.updates = await market_records(run.infra, ORDER_UPDATES, run.markets)


@pytest.mark.timeout(900)
async def test_a_recorder_killed_mid_run_leaves_every_row_once_and_right(infra, producer, workers):
    run = Run(infra, producer, workers)

    async def kill_the_recorder() -> None:
        await run.recording()
        workers.kill("recorder")
        await asyncio.sleep(session_over_s(infra))  # until the group drops it
        workers.start("recorder", "recorder")

    await _complete(run, seed=11, middle=kill_the_recorder)
    check_rows(run)
    check_marketdata(run)
    check_depth_client(run)


@pytest.mark.timeout(1200)
async def test_cassandra_away_for_20_s_then_a_replay_of_the_whole_run_changes_nothing(infra, producer, workers):
    tps = [TopicPartition(t, p) for t in RECORDER_INPUTS for p in range(infra.partitions)]
    probe = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await probe.start()
    try:  # everything this run writes comes after these (a topic not made yet: from its start)
        existing = await probe.topics()
        run_starts = {tp: 0 for tp in tps} | await probe.end_offsets([tp for tp in tps if tp.topic in existing])
    finally:
        await probe.stop()
    run = Run(infra, producer, workers)
    node = CassandraNode(infra, fast_unsafe=True)

    async def back_after_20_s() -> None:
        await asyncio.sleep(20)
        node.start(find_java())
        while not node.answers():
            await asyncio.sleep(0.5)

    async def stop_cassandra_for_20_s():
        await run.recording()
        assert node.process.stop()
        # The rest of the run is sent while Cassandra is away, so the recorder meets the outage
        # even when it had written all of the first half by then.
        return back_after_20_s()

    await _complete(run, seed=12, middle=stop_cassandra_for_20_s)
    check_rows(run)
    check_marketdata(run)
    assert "Cassandra write failed" in workers.log_text("recorder")  # it did meet the outage
    before = run.tables()

    workers.stop("recorder")
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, group_id=READ_APP_ID,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        # Replay every recorded topic from where this run began: all it wrote, read again (not what
        # earlier tests wrote, which only makes the replay longer).
        await consumer.commit(run_starts)
    finally:
        await consumer.stop()
    workers.start("recorder", "recorder")
    await run.quiet()
    assert run.tables() == before


@pytest.mark.timeout(600)
async def test_a_recorder_that_lost_depth_updates_records_the_rest_and_recovers_from_a_full_book(
        infra, producer, workers):
    """As when the read store is rebuilt after the depth topic's retention dropped early updates:
    the recorder's book is behind the next change. It must go on recording everything else, and
    take the book whole from the next full update, which follows a worker's first change."""
    _migrate(infra)
    run = Run(infra, producer, workers)
    run.markets = markets = await define_markets(infra, suffix())
    symbol = next(m for m in markets if markets[m]["partition"] == 0)
    base, quote = markets[symbol]["base"], markets[symbol]["quote"]
    maker, taker, first = f"gap-maker-{symbol}", f"gap-taker-{symbol}", random.randrange(10**12)
    workers.start("core")
    workers.start("recorder", "recorder")
    await producer.send([deposit(maker, base, 10**13), deposit(taker, quote, 10**13)])
    await producer.send([place(maker, first, symbol, "sell", 15000, 1000),
                         place(maker, first + 1, symbol, "sell", 15100, 1000)])
    await run.quiet()
    [recorded] = run.select("SELECT last_update_id FROM depth_snapshots WHERE market = %s", symbol)

    workers.stop("recorder")
    # Gone as after a TRUNCATE, which would take other tests' rows too. Rows are written at their
    # update id (read_model.py), so a delete at a clock's timestamp would hide every later write.
    run.select("DELETE FROM depth_snapshots USING TIMESTAMP %s WHERE market = %s", recorded.last_update_id, symbol)
    workers.start("recorder", "recorder")
    await producer.send([place(taker, first + 2, symbol, "buy", 15000, 400)])  # a trade, and a change past the gap
    await run.quiet()
    assert len(run.select("SELECT trade_id FROM trades_by_account WHERE account = %s", taker)) == 1
    log = workers.log_text("recorder")
    assert "depth updates lost" in log

    workers.stop("core")
    workers.start("core")  # its first change is followed by the whole book
    await producer.send([place(maker, first + 3, symbol, "sell", 15200, 1000)])
    await run.quiet()
    [row] = run.select("SELECT snapshot FROM depth_snapshots WHERE market = %s", symbol)
    snapshot = codec.decode_as("exchange.DepthSnapshot", row.snapshot)
    assert snapshot["bids"] == []
    assert [(level["price"], level["quantity"]) for level in snapshot["asks"]] == [(15000, 600), (15100, 1000),
                                                                                  (15200, 1000)]
    log = workers.log_text("recorder")
    assert log.index("depth updates lost") < log.index("depth is whole again")
