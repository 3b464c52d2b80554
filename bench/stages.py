"""`exchange bench stages`: the worker's own work per command, with Kafka and Faust taken away.

Runs the pipeline benchmark's order flow through the accounts and matching stages in one
process, through the worker's own batch code (streams/batch.py), doing what the worker does
besides moving bytes: decode the input, decide, encode the rows it writes and the messages it
sends. Inputs wait in in-memory queues, rows live
in dicts of encoded rows per partition, read through the worker's `StoreRows`.

So it prints the ceiling of pure Python on one core: `exchange bench pipeline` can never go
faster, and the gap between the two is what Faust, aiokafka and the round trips cost. With
`--profile` it prints where the time goes (cProfile, which slows everything down about three times).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections import defaultdict, deque

from bench.pipeline import OrderFlow, bench_markets, funding
from exchange import gc_tuning
from exchange.commands import by_partition
from exchange.reference import market_spec
from schemas.codec import codec
from schemas.topics import COMMANDS, ORDERS, SETTLEMENTS, TRADES, account_partition
from streams.account import account_of, copy_row, record_of
from streams.accounts_stage import AccountsStage
from streams.batch import AdmitAll, Taken, run_batch, run_sync
from streams.book_journal import BookJournal
from streams.faust_internals import partition_db
from streams.matching_stage import MatchingStage
from streams.table_writer import StoreRows

PARTITIONS = 4  # as the pipeline benchmark runs with the default settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench stages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="commands")
    parser.add_argument("--batch", type=int, default=500, help="commands per produce round")
    parser.add_argument("--profile", action="store_true", help="print the 30 costliest functions")
    args = parser.parse_args(argv)
    gc_tuning.tune()  # as a worker process does
    _, markets, traders = bench_markets("BENCH", PARTITIONS)
    worker = InProcessWorker(markets, traders)
    worker.submit(funding(markets, traders, 10**17))
    worker.drain()
    flow = OrderFlow(worker.markets, worker.traders)
    # Encoded before the clock starts: the API, not the worker, encodes commands.
    rounds = [worker.encoded(flow.batch(args.batch)) for _ in range(args.n // args.batch)]
    profile = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profile:
        profile.enable()
    for messages in rounds:
        worker.submit_encoded(messages)
        worker.drain()
    if profile:
        profile.disable()
    elapsed = time.perf_counter() - started
    n = len(rounds) * args.batch
    print(f"stages alone: {n / elapsed:,.0f} commands/s ({n} commands in {elapsed:.1f} s, "
          f"{elapsed / n * 1e6:.0f} µs each; batches of {args.batch}, one process, no Kafka)")
    print(f"  {worker.trades:,} trades, {worker.messages:,} messages and {worker.rows:,} table rows encoded")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return 0


class InProcessWorker:
    def __init__(self, markets: dict[str, dict], traders: dict[str, list[str]]) -> None:
        self.markets, self.traders = markets, traders
        assets = {m[side]: {"symbol": m[side]} for m in markets.values() for side in ("base", "quote")}
        self.store = _Store()
        self.account_rows = StoreRows(self.store, record_of, lambda key: account_partition(account_of(key), PARTITIONS),
                                      copy_row)
        self.accounts = AccountsStage(self.account_rows, markets, assets, PARTITIONS)
        self.matching = {p: MatchingStage(BookJournal({}), markets, market_spec, PARTITIONS) for p in range(PARTITIONS)}
        self.queues: dict[str, deque] = defaultdict(deque)  # topic name -> (partition, offset, bytes)
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.trades = self.messages = self.rows = 0

    def submit(self, commands: list[dict]) -> None:
        self.submit_encoded(self.encoded(commands))

    @staticmethod
    def encoded(commands: list[dict]) -> list[tuple[int, bytes]]:
        """One exchange.commands message per partition, as `CommandProducer` makes them."""
        return [(partition, codec.encode(COMMANDS.record, {"commands": batch}))
                for partition, batch in by_partition(commands, PARTITIONS).items()]

    def submit_encoded(self, messages: list[tuple[int, bytes]]) -> None:
        for partition, value in messages:
            self._queue(COMMANDS, partition, value)

    def drain(self) -> None:
        """Run every queued message through its stage, and what that sends, until all is quiet.
        Each partition's queued messages of a topic make one take, as an agent takes them."""
        while any(self.queues.values()):
            for topic in (COMMANDS, ORDERS, SETTLEMENTS):
                queue = self.queues[topic.name]
                takes: dict[int, list[Taken]] = defaultdict(list)
                while queue:
                    message = queue.popleft()
                    takes[message.partition].append(message)
                for partition, messages in takes.items():
                    if topic is ORDERS:
                        stage, durable = self.matching[partition], _BookRows(self, self.matching[partition])
                    else:
                        stage, durable = self.accounts, _AccountRows(self)
                    run_sync(run_batch(messages, stage, TOPICS, AdmitAll(), durable, clock=lambda: 0))

    def _encode(self, rows: dict[str, dict | None], record_of) -> dict[str, bytes | None]:
        """Rows as the changelog and RocksDB get them (None deletes)."""
        self.rows += len(rows)
        return {key: None if row is None else codec.encode(record_of(key), row) for key, row in rows.items()}

    def _send(self, messages) -> None:
        for m in messages:
            self._put(m.topic, m.partition, m.record)
            if m.topic is TRADES:
                self.trades += len(m.record["trades"])

    def _put(self, topic, partition: int, record: dict) -> None:
        value = codec.encode(topic.record, record)
        self.messages += 1
        if topic in (ORDERS, SETTLEMENTS):
            self._queue(topic, partition, value)

    def _queue(self, topic, partition: int, value: bytes) -> None:
        offset = self.offsets[(topic.name, partition)]
        self.offsets[(topic.name, partition)] += 1
        self.queues[topic.name].append(Taken(topic.name, partition, offset, None, value))


TOPICS = {topic.name: topic for topic in (COMMANDS, SETTLEMENTS, ORDERS)}


class _AccountRows:
    """The accounts table as encoded rows in dicts, read through the worker's StoreRows; Kafka as queues."""

    def __init__(self, worker: InProcessWorker) -> None:
        self.worker = worker

    async def write_rows(self, rows: dict[int, dict[str, dict | None]]) -> None:
        worker = self.worker
        generation = worker.account_rows.generation
        for partition, written in rows.items():
            database = partition_db(worker.store.data, partition)
            for key, value in worker._encode(written, record_of).items():  # as TableWriter writes them
                if value is None:
                    database.pop(key.encode(), None)
                else:
                    database[key.encode()] = value
        worker.account_rows.written(rows, generation)

    async def send(self, messages: list) -> None:
        self.worker._send(messages)


class _BookRows:
    """A matching stage's book table as the journal's own dict (encoded, then dropped)."""

    def __init__(self, worker: InProcessWorker, stage: MatchingStage) -> None:
        self.worker, self.stage = worker, stage

    async def send(self, messages: list) -> None:
        self.worker._send(messages)

    async def write_rows(self, rows: dict[int, dict[str, dict | None]]) -> None:
        table = self.stage.journal.table
        for written in rows.values():
            self.worker._encode(written, lambda key: "exchange.BookRow")
            for key, row in written.items():
                if row is None:
                    table.pop(key, None)
                else:
                    table[key] = row


class _Store:
    """Stands in for a Faust table's RocksDB store: encoded rows, one dict per partition."""

    def __init__(self) -> None:
        self.data = self
        self._partitions: dict[int, dict[bytes, bytes]] = defaultdict(dict)

    def _db_for_partition(self, partition: int) -> dict[bytes, bytes]:
        return self._partitions[partition]


if __name__ == "__main__":
    raise SystemExit(main())
