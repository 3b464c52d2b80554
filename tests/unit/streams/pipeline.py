"""An in-memory stand-in for Kafka and the worker's tables, to test the stages' crash protocols exactly.

Each take runs through the worker's own batch code (streams/batch.py) with in-memory adapters.

Topics are lists per partition; each stage reads at a position and commits offsets now and then,
as Faust does. A crash can strike at any step of processing a message: the stage's table writes
land as a prefix (Kafka keeps one changelog partition in order), its outputs land as a prefix, and
positions fall back to the last committed offsets. In-memory state (engines, journal caches) is
lost and rebuilt from the tables, as in a restarted worker.
"""

from __future__ import annotations

import random
from collections import defaultdict

from exchange.commands import by_partition
from exchange.reference import market_spec
from schemas.codec import codec
from schemas.topics import COMMANDS, ORDERS, SETTLEMENTS
from streams.account import accounts_view, record_of
from streams.accounts_stage import AccountsStage
from streams.batch import AdmitAll, Taken, run_batch, run_sync
from streams.book_journal import BookJournal
from streams.matching_stage import MatchingStage


class Recording(dict):
    """A table view that keeps writes pending until the harness decides which of them landed.

    Reads go through the codec, as a store's do, so a stage that changed a row it read in place
    (which would change the durable copy behind the harness's back) is caught.
    """

    def __init__(self, durable: dict, record_of) -> None:
        super().__init__()
        self.durable = durable
        self.record_of = record_of
        self.pending: list[tuple[str, object]] = []
        self._overlay: dict[str, object] = {}

    _GONE = object()

    def get(self, key, default=None):
        value = self._overlay.get(key, self.durable.get(key, self._GONE))
        if value is self._GONE:
            return default
        record = self.record_of(key)
        return codec.decode_as(record, codec.encode(record, value))

    def __getitem__(self, key):
        value = self.get(key, self._GONE)
        if value is self._GONE:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        self.pending.append((key, value))
        self._overlay[key] = value

    def pop(self, key, default=None):
        value = self.get(key, default)
        self.pending.append((key, self._GONE))
        self._overlay[key] = self._GONE
        return value

    def write(self, rows: dict) -> None:
        """Rows in order, as TableWriter writes them (None deletes)."""
        for key, value in rows.items():
            if value is None:
                self.pop(key)
            else:
                self[key] = value

    def items(self):
        return [(k, self.get(k)) for k in self.durable]

    def land(self, count: int | None = None) -> None:
        for key, value in self.pending[:count]:
            if value is self._GONE:
                self.durable.pop(key, None)
            else:
                self.durable[key] = value
        self.pending, self._overlay = [], {}


class Pipeline:
    def __init__(self, markets: dict[str, dict], assets: dict[str, dict], partitions: int = 2,
                 crash_rate: float = 0.0, seed: int = 0, max_batch: int = 4) -> None:
        self.markets, self.assets, self.partitions = markets, assets, partitions
        self.max_batch = max_batch
        self.random = random.Random(seed)
        self.crash_rate = crash_rate
        self.crashes = 0
        self.logs: dict[str, list[list]] = defaultdict(lambda: [[] for _ in range(partitions)])
        self.account_rows: dict[str, dict] = {}
        self.book_rows: dict[str, dict] = {}
        self.committed: dict[tuple[str, int], int] = defaultdict(int)
        self.clock_ms = 0
        self.restart()

    @property
    def accounts(self) -> dict[str, dict]:
        """Each account's committed state, its open holds included."""
        return accounts_view(self.account_rows)

    def restart(self) -> None:
        self.position = dict(self.committed)
        self.position = defaultdict(int, self.position)
        self.matching = {}  # per orders partition, rebuilt lazily from the table

    # -- producing --------------------------------------------------------------------------

    def submit(self, commands: list[dict]) -> None:
        """What the API does: one exchange.commands message per partition of the batch."""
        for partition, batch in by_partition(commands, self.partitions).items():
            self.logs[COMMANDS.name][partition].append({"commands": batch})

    # -- consuming --------------------------------------------------------------------------

    def pending_inputs(self) -> list[tuple[str, int]]:
        return [(topic, p) for topic in (COMMANDS.name, SETTLEMENTS.name, ORDERS.name)
                for p in range(self.partitions) if self.position[(topic, p)] < len(self.logs[topic][p])]

    def run(self, max_steps: int = 10**7) -> None:
        for _ in range(max_steps):
            ready = self.pending_inputs()
            if not ready:
                return
            self.step(*self.random.choice(ready))
        raise AssertionError("pipeline did not settle")

    def step(self, topic: str, partition: int) -> None:
        """Process a take of 1 to max_batch messages of a partition, as an agent does. The
        accounts agent reads commands and settlements together, so half its takes also hold
        the next messages of the other topic's same partition, interleaved at random."""
        if topic == ORDERS.name:
            records = self._next(topic, partition)
            crash = self.random.random() < self.crash_rate
            self._match(partition, records, crash)
            taken = {topic: len(records)}
        else:
            inputs = [(topic, offset, record) for offset, record in self._next(topic, partition)]
            other = SETTLEMENTS.name if topic == COMMANDS.name else COMMANDS.name
            if self.random.random() < 0.5 and self.position[(other, partition)] < len(self.logs[other][partition]):
                more = [(other, offset, record) for offset, record in self._next(other, partition)]
                inputs = _interleave(inputs, more, self.random)
            crash = self.random.random() < self.crash_rate
            self._account(partition, inputs, crash)
            taken = {t: sum(1 for name, _, _ in inputs if name == t) for t in (topic, other)}
        if crash:
            return
        for name, count in taken.items():
            self.position[(name, partition)] += count
        if self.random.random() < 0.3:  # Faust commits now and then, not after every message
            for key, value in self.position.items():
                self.committed[key] = value

    def _next(self, topic: str, partition: int) -> list[tuple[int, dict]]:
        """The next 1 to max_batch (offset, record) of a partition."""
        offset = self.position[(topic, partition)]
        available = len(self.logs[topic][partition]) - offset
        records = self.logs[topic][partition][offset: offset + self.random.randint(1, min(available, self.max_batch))]
        return list(enumerate(records, offset))

    def _account(self, partition: int, inputs: list[tuple[str, int, dict]], crash: bool) -> None:
        table = Recording(self.account_rows, record_of)
        stage = AccountsStage(table, self.markets, self.assets, self.partitions)
        self._run(stage, [_message(topic, partition, offset, record) for topic, offset, record in inputs],
                  table, crash, clock_ms=0)

    def _match(self, partition: int, records: list[tuple[int, dict]], crash: bool) -> None:
        table = Recording(self.book_rows, lambda key: "exchange.BookRow")
        stage = self.matching.get(partition)
        if stage is None:
            stage = self.matching[partition] = MatchingStage(BookJournal(table), self.markets, market_spec,
                                                             self.partitions)
        stage.journal.table = table
        self.clock_ms += 1_000  # a take a second: full depth books come now and then
        self._run(stage, [_message(ORDERS.name, partition, offset, record) for offset, record in records],
                  table, crash, self.clock_ms)

    def _run(self, stage, messages: list[Taken], table: Recording, crash: bool, clock_ms: int) -> None:
        """The worker's own batch code (streams/batch.py) over in-memory Kafka and tables. A crash
        strikes the first or the second durable step, whichever the stage's order makes them: that
        step lands a prefix of what it writes (Kafka keeps each partition in order), the one after
        lands nothing."""
        durable = _Durable(self, table, self.random.choice((1, 2)) if crash else None)
        try:
            run_sync(run_batch(messages, stage, TOPICS, AdmitAll(), durable, clock=lambda: clock_ms))
        except _Crash:
            self._crash()

    def _send(self, messages) -> None:
        for message in messages:
            log = self.logs[message.topic.name]
            log.extend([] for _ in range(len(log), message.partition + 1))  # exchange.replies has its own count
            log[message.partition].append(message.record)

    def _crash(self) -> None:
        self.crashes += 1
        self.restart()

    # -- reading results ----------------------------------------------------------------------

    def records(self, topic_name: str) -> list[dict]:
        return [record for partition in self.logs[topic_name] for record in partition]


TOPICS = {topic.name: topic for topic in (COMMANDS, SETTLEMENTS, ORDERS)}


def _message(topic: str, partition: int, offset: int, record: dict) -> Taken:
    return Taken(topic, partition, offset, None, codec.encode(TOPICS[topic].record, record))


class _Crash(Exception):
    pass


class _Durable:
    """Kafka and the table as the batch code sees them, with a crash at step `crash_at` (1 or 2)."""

    def __init__(self, pipeline: Pipeline, table: Recording, crash_at: int | None) -> None:
        self.pipeline, self.table, self.crash_at = pipeline, table, crash_at
        self.steps = 0

    async def write_rows(self, rows: dict[int, dict[str, dict | None]]) -> None:
        for partition_rows in rows.values():
            self.table.write(partition_rows)
        if self._crashes():
            self.table.land(self.pipeline.random.randint(0, len(self.table.pending)))
            raise _Crash
        self.table.land()

    async def send(self, messages: list) -> None:
        if self._crashes():
            self.pipeline._send(messages[: self.pipeline.random.randint(0, len(messages))])
            raise _Crash
        self.pipeline._send(messages)

    def _crashes(self) -> bool:
        self.steps += 1
        return self.steps == self.crash_at


def _interleave(first: list, second: list, rng: random.Random) -> list:
    """Both lists merged at random, each keeping its own order."""
    merged, i, j = [], 0, 0
    while i < len(first) or j < len(second):
        if j == len(second) or (i < len(first) and rng.random() < 0.5):
            merged.append(first[i])
            i += 1
        else:
            merged.append(second[j])
            j += 1
    return merged
