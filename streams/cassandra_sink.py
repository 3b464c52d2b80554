"""Writing the recorder's rows to Cassandra: concurrent, bounded, and retried until acknowledged.

`write` returns only when Cassandra has acknowledged every row, however long that takes: while
Cassandra is away it waits and tries again, so the agent holds its batch and Faust commits no
input offset past rows Cassandra does not have. A take's rows go in as few unlogged batches as
fit (`requests_of`); at most `max_in_flight` requests are outstanding.

Why few and large: the cost is per request, in the driver (building, routing and answering one
took more of the recorder's CPU than everything else it did) and in Cassandra's native
transport. An unlogged batch needs no batch log; its rows are sorted by partition, so each
partition's rows are one mutation. A batch covering several partitions is split by the
coordinator among their replicas, which on a cluster costs the coordinator what separate
requests would have cost this client; every write is an upsert with its own timestamp, so how
rows are grouped never changes what is stored.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cassandra import InvalidRequest
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType

from exchange.db import qualified, wait

from .read_model import READS, STATEMENTS, Write

log = logging.getLogger("exchange.cassandra_sink")

BATCH_ROWS = 200  # rows per unlogged batch at most
# Estimated size per batch at most. Cassandra refuses a batch past batch_size_fail_threshold
# (50 KiB by default); one that passes anyway is split in two and sent again (`_send`).
BATCH_BYTES = 24 * 1024
RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # seconds between attempts, doubling
REPORT_EVERY = 10.0  # seconds between warnings while writes fail


class CassandraSink:
    def __init__(self, connect, max_in_flight: int = 64, batch_bytes: int = BATCH_BYTES) -> None:
        self._connect = connect  # -> a Session using the keyspace (blocking; run in a thread)
        self._batch_bytes = batch_bytes
        self._session = None
        self._prepared: dict = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self.rows_written = 0
        self._failures = 0  # failed attempts since the last success, for one log line per outage
        self._last_report = 0.0

    async def start(self) -> None:
        """Connect and prepare the statements, waiting for Cassandra as long as it takes."""
        logging.getLogger("cassandra.protocol").addFilter(_batch_warnings)
        delay = RETRY_FIRST
        while True:
            try:
                session = await asyncio.to_thread(self._connect)
                self._prepared = {name: await asyncio.to_thread(session.prepare, qualified(cql, session.keyspace))
                                  for name, cql in {**STATEMENTS, **READS}.items()}
                self._session = session
                return
            except InvalidRequest:
                raise  # the schema and the statements disagree: a bug, not an outage
            except Exception as exc:  # noqa: BLE001 - the driver has many; all mean "not now"
                log.warning("Cassandra not reachable (%s); trying again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def read_one(self, name: str, parameters: tuple):
        """The first row of one of the READS (or None), retried like writes."""
        rows = await self.read(name, parameters)
        return rows[0] if rows else None

    async def read(self, name: str, parameters: tuple = ()) -> list:
        """Every row of one of the READS, retried like writes."""
        return list(await self._execute(self._prepared[name].bind(parameters)))

    async def write(self, writes: list[Write]) -> int:
        """Write every row; returns the number of requests it took."""
        if not writes:
            return 0
        sent = await asyncio.gather(*(self._send(rows) for rows in requests_of(writes, max_bytes=self._batch_bytes)))
        self.rows_written += len(writes)
        return sum(sent)

    async def _send(self, rows: list[Write]) -> int:
        """Send rows as one request, or as two halves if Cassandra finds the batch too large;
        returns the number of requests sent."""
        try:
            await self._execute(self._statement(rows))
            return 1
        except InvalidRequest as exc:
            if len(rows) == 1 or "Batch too large" not in str(exc):
                raise
        half = len(rows) // 2
        return await self._send(rows[:half]) + await self._send(rows[half:])

    def _statement(self, rows: list[Write]):
        if len(rows) == 1:
            return self._prepared[rows[0].statement].bind(_unset_nulls(rows[0].parameters()))
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for row in rows:
            batch.add(self._prepared[row.statement], _unset_nulls(row.parameters()))
        return batch

    async def _execute(self, statement):
        delay = RETRY_FIRST
        while True:
            async with self._slots:
                try:
                    result = await wait(self._session.execute_async(statement))
                    if self._failures:
                        log.warning("Cassandra writes succeed again after %s failed attempts", self._failures)
                        self._failures = 0
                    return result
                except InvalidRequest:
                    raise
                except Exception as exc:  # noqa: BLE001 - timeouts, unavailable, no host: all transient
                    self._report(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _report(self, exc: Exception) -> None:
        """One warning when writes start failing, then one every REPORT_EVERY while they do."""
        self._failures += 1
        now = time.monotonic()
        if self._failures == 1 or now - self._last_report >= REPORT_EVERY:
            self._last_report = now
            log.warning("Cassandra write failed (%s: %s); %s failed attempts so far, retrying until it answers",
                        type(exc).__name__, str(exc)[:300], self._failures)

    async def shutdown(self) -> None:
        if self._session is not None:
            await asyncio.to_thread(self._session.cluster.shutdown)


def _batch_warnings(record: logging.LogRecord) -> bool:
    """Drop the server's warnings about batch sizes, which the driver logs for every batch
    answered with one: large multi-partition batches are this sink's design (above), and
    Cassandra's default thresholds warn from 5 KiB and 10 partitions."""
    message = record.getMessage()
    return not (message.startswith("Server warning: ") and ("Batch for [" in message
                                                              or "Unlogged batch covering" in message))


def requests_of(writes: list[Write], max_rows: int = BATCH_ROWS, max_bytes: int = BATCH_BYTES) -> list[list[Write]]:
    """The writes grouped into requests: sorted by partition, cut where a request would pass
    `max_rows` rows or `max_bytes` (estimated); a row larger than that alone."""
    requests: list[list[Write]] = []
    current: list[Write] = []
    size = 0
    for write in sorted(writes, key=lambda w: w.partition):
        row_bytes = _size(write.values)
        if current and (len(current) >= max_rows or size + row_bytes > max_bytes):
            requests.append(current)
            current, size = [], 0
        current.append(write)
        size += row_bytes
    if current:
        requests.append(current)
    return requests


def _size(values: tuple) -> int:
    """About what a row takes in a batch as Cassandra measures it: each cell's value and about a
    dozen bytes of its own (timestamp, flags, lengths), and a row's key."""
    return 24 + sum((len(v) if isinstance(v, (str, bytes)) else 8) + 12 for v in values)


def _unset_nulls(parameters: tuple) -> tuple:
    """A null bound as "unset" leaves the column as it is; bound as null it would write a
    tombstone, and rows updated often would fill up with them. No column of ours ever goes back
    from a value to null (read_model.py), so unset is what every null means here."""
    return tuple(UNSET_VALUE if p is None else p for p in parameters)
