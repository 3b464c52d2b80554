"""`exchange bench stages`: the worker's own work per command, with Kafka and Faust taken away.

Runs the pipeline benchmark's order flow through the accounts and matching stages in one
process, doing per message what the worker does besides moving bytes: decode the input, decide,
encode the rows it writes and the messages it sends. Inputs wait in in-memory queues, rows live
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
from streams.book_journal import BookJournal
from streams.faust_internals import partition_db
from streams.matching_stage import MatchingStage
from streams.table_writer import PendingRows, StoreRows

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
        """Run every queued message through its stage, and what that sends, until all is quiet."""
        while any(self.queues.values()):
            for topic in (COMMANDS, ORDERS, SETTLEMENTS):
                queue = self.queues[topic.name]
                while queue:
                    partition, offset, value = queue.popleft()
                    if topic is ORDERS:
                        self._match(partition, value)
                    else:
                        self._account(topic, partition, offset, value)

    def _account(self, topic, partition: int, offset: int, value: bytes) -> None:
        rows = PendingRows(self.account_rows, copy_row)
        self.accounts.begin_batch(rows)
        record = codec.decode_as(topic.record, value)
        if topic is COMMANDS:
            result = self.accounts.on_commands(partition, offset, record["commands"], 0)
        else:
            result = self.accounts.on_settlements(record, 0)
        rows.stage(partition, result.rows)
        result.messages.extend(self.accounts.end_batch())
        written = rows.by_partition.get(partition, {})
        database = partition_db(self.store.data, partition)
        for key, value in self._encode(written, record_of).items():  # as TableWriter writes them
            if value is None:
                database.pop(key.encode(), None)
            else:
                database[key.encode()] = value
        self.account_rows.written({partition: written}, self.account_rows.generation)
        self._send(result.messages)

    def _match(self, partition: int, value: bytes) -> None:
        stage = self.matching[partition]
        result, commits = stage.on_batches([codec.decode_as(ORDERS.record, value)], 0)
        self._send(result.messages)
        if commits:
            rows = stage.commit_all(commits)
            self._encode(rows, lambda key: "exchange.BookRow")
            for key, row in rows.items():
                if row is None:
                    stage.journal.table.pop(key, None)
                else:
                    stage.journal.table[key] = row

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
        self.queues[topic.name].append((partition, offset, value))


class _Store:
    """Stands in for a Faust table's RocksDB store: encoded rows, one dict per partition."""

    def __init__(self) -> None:
        self.data = self
        self._partitions: dict[int, dict[bytes, bytes]] = defaultdict(dict)

    def _db_for_partition(self, partition: int) -> dict[bytes, bytes]:
        return self._partitions[partition]


if __name__ == "__main__":
    raise SystemExit(main())
