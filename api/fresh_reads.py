"""Reads that see the account's own writes, on any API process.

Orders, fills and balances are read from Cassandra, which the recorder fills from the topics a
moment after the order flow wrote them. An order answered 201 is on exchange.order-updates, but a
client listing its open orders at once could still miss it, and a bot reconciling that way would
think the order gone and place it again. So before reading, a request takes the end offsets of
the topic partitions its rows come from (everything written before the request is below them)
and waits until the recorder's positions pass them: the recorder writes how far it has recorded
each partition after that take's rows (`recorded_positions`, streams/read_worker.py).

What each read waits for:
- orders (one, open, history, and the order a cancel names): exchange.order-updates, every
  partition, since an account trades in every market;
- fills: exchange.trades, every partition;
- balances: exchange.balances at the account's partition, and exchange.settlements there: a
  fill reaches balances one stage later, when the accounts stage applies its settlement, and the
  recorder learns how far that is from the balance updates settlements cause;
- withdrawals: exchange.command-results at the account's partition; the ledger: all of these.

The wait is bounded (`READ_WAIT_MS`): a read side that is down or far behind answers with what
it has, late, rather than not at all. Concurrent reads share one poll of the positions.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from exchange.config import Settings
from exchange.db import RECORDER
from schemas.topics import BALANCES, COMMAND_RESULTS, ORDER_UPDATES, SETTLEMENTS, TRADES, account_partition

from .store import Store

log = logging.getLogger("exchange.api.fresh_reads")

EVERY, ACCOUNTS = "every partition", "the account's partition"
Reads = tuple[tuple[str, str], ...]  # (topic, which of its partitions)
ORDERS: Reads = ((ORDER_UPDATES.name, EVERY),)
FILLS: Reads = ((TRADES.name, EVERY),)
BALANCE: Reads = ((BALANCES.name, ACCOUNTS), (SETTLEMENTS.name, ACCOUNTS))
WITHDRAWALS: Reads = ((COMMAND_RESULTS.name, ACCOUNTS),)
LEDGER: Reads = FILLS + BALANCE + WITHDRAWALS

POLL_S = 0.003  # between two reads of the positions while a request waits
WAIT_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class FreshReads:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.partitions = settings.partitions
        self.max_wait_s = settings.read_wait_ms / 1000
        self._positions = _Positions(store)
        self._consumer: AIOKafkaConsumer | None = None  # no group: it only asks for end offsets
        self.waits = [0] * (len(WAIT_BUCKETS) + 1)
        self.waited_s = 0.0
        self.late = 0

    async def start(self) -> None:
        if self.max_wait_s:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                              enable_auto_commit=False)
            await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def wait(self, account: str, reads: Reads) -> None:
        """Return once the read side has recorded everything `reads` covers that was written
        before this call, or after READ_WAIT_MS if it has not."""
        if self._consumer is None:
            return
        started = time.monotonic()
        mine = account_partition(account, self.partitions)
        tps = [TopicPartition(topic, p) for topic, which in reads
               for p in (range(self.partitions) if which == EVERY else (mine,))]
        try:
            ends = await asyncio.wait_for(self._consumer.end_offsets(tps), self.max_wait_s)
        except (KafkaError, asyncio.TimeoutError) as exc:
            log.warning("no end offsets for a fresh read (%s); reading what the read side has", exc)
            self._observe(started, late=True)
            return
        targets = {(tp.topic, tp.partition): end for tp, end in ends.items() if end > 0}
        reached = await self._positions.reach(targets, self.max_wait_s - (time.monotonic() - started))
        self._observe(started, late=not reached)

    def _observe(self, started: float, late: bool) -> None:
        waited = time.monotonic() - started
        self.waited_s += waited
        self.late += late
        self.waits[next((i for i, bound in enumerate(WAIT_BUCKETS) if waited <= bound), len(WAIT_BUCKETS))] += 1

    def render_metrics(self) -> str:
        """Prometheus lines: how long reads waited for the read side, and how many gave up."""
        lines = ["# TYPE exchange_api_fresh_read_wait_seconds histogram"]
        total = 0
        for bound, count in zip((*WAIT_BUCKETS, "+Inf"), self.waits):
            total += count
            lines.append(f'exchange_api_fresh_read_wait_seconds_bucket{{le="{bound}"}} {total}')
        lines += [f"exchange_api_fresh_read_wait_seconds_sum {self.waited_s:.6f}",
                  f"exchange_api_fresh_read_wait_seconds_count {total}",
                  "# TYPE exchange_api_fresh_reads_late_total counter",
                  f"exchange_api_fresh_reads_late_total {self.late}"]
        return "\n".join(lines) + "\n"


async def fresh(request, account: str, reads: Reads) -> None:
    """Wait, before a request reads, until the read side has the account's writes (see above)."""
    await request.app.state.fresh.wait(account, reads)


class _Positions:
    """The recorder's positions, polled while anyone waits for them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._waiting: list[tuple[dict[tuple[str, int], int], asyncio.Future]] = []
        self._poller: asyncio.Task | None = None

    async def reach(self, targets: dict[tuple[str, int], int], timeout: float) -> bool:
        """True once every (topic, partition) is recorded up to its target offset; False if that
        takes longer than `timeout`."""
        if not targets:
            return True
        future = asyncio.get_running_loop().create_future()
        waiting = (targets, future)
        self._waiting.append(waiting)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(timeout, 0.0))
        except asyncio.TimeoutError:
            return False
        finally:
            if waiting in self._waiting:
                self._waiting.remove(waiting)

    async def _poll(self) -> None:
        # Any positions read after the targets were taken will do: a position is written only
        # once the rows below it are in Cassandra, so it never claims more than is there.
        while self._waiting:
            try:
                rows = await self.store.rows("recorded_positions", RECORDER)
            except Exception as exc:  # noqa: BLE001 - Cassandra away: the waits run out on their own
                log.warning("reading the recorder's positions failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            positions = {(row.topic, row.partition): row.next_offset for row in rows}
            for targets, future in self._waiting:
                if not future.done() and all(positions.get(key, 0) >= end for key, end in targets.items()):
                    future.set_result(True)
            self._waiting = [(targets, future) for targets, future in self._waiting if not future.done()]
            if self._waiting:
                await asyncio.sleep(POLL_S)
