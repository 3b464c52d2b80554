"""Writing the recorder's rows to Cassandra: concurrent, bounded, and retried until acknowledged.

`write` returns only when Cassandra has acknowledged every row, however long that takes: while
Cassandra is away it waits and tries again, so the agent holds its batch and Faust commits no
input offset past rows Cassandra does not have. Rows of one Cassandra partition go in one
unlogged batch (one request, applied together on one replica set); at most `max_in_flight`
requests are outstanding.
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

BATCH_ROWS = 30  # rows per unlogged batch; Cassandra warns past 5 kB a batch
RETRY_FIRST, RETRY_MAX = 0.2, 5.0  # seconds between attempts, doubling
REPORT_EVERY = 10.0  # seconds between warnings while writes fail


class CassandraSink:
    def __init__(self, connect, max_in_flight: int = 64) -> None:
        self._connect = connect  # -> a Session using the keyspace (blocking; run in a thread)
        self._session = None
        self._prepared: dict = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self.rows_written = 0
        self._failures = 0  # failed attempts since the last success, for one log line per outage
        self._last_report = 0.0

    async def start(self) -> None:
        """Connect and prepare the statements, waiting for Cassandra as long as it takes."""
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
        rows = await self._execute(self._prepared[name].bind(parameters))
        return rows[0] if rows else None

    async def write(self, writes: list[Write]) -> int:
        """Write every row; returns the number of requests it took."""
        if not writes:
            return 0
        by_partition: dict[tuple, list[Write]] = {}
        for w in writes:
            by_partition.setdefault(w.partition, []).append(w)
        requests = []
        for rows in by_partition.values():
            for start in range(0, len(rows), BATCH_ROWS):
                requests.append(self._statement(rows[start:start + BATCH_ROWS]))
        await asyncio.gather(*(self._execute(request) for request in requests))
        self.rows_written += len(writes)
        return len(requests)

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


def _unset_nulls(parameters: tuple) -> tuple:
    """A null bound as "unset" leaves the column as it is; bound as null it would write a
    tombstone, and rows updated often would fill up with them. No column of ours ever goes back
    from a value to null (read_model.py), so unset is what every null means here."""
    return tuple(UNSET_VALUE if p is None else p for p in parameters)
