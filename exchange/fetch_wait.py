"""A fetch wait that is short while records flow and long while a consumer is idle.

How long the broker may hold a fetch open (`fetch_max_wait_ms`) trades latency against idle cost.
The broker answers a fetch as soon as any of its partitions has a record, so a long wait costs no
latency while every partition is in the fetch. But aiokafka leaves out of its fetch a partition
that still has records buffered or that flow control paused, and sends a node's next fetch only
once the one in flight returns: a partition left out waits for the open fetch's whole wait. So
under load the stages want a short wait (10 ms), and at that wait an idle process asks every
broker a hundred times a second for nothing, which is most of its idle CPU and the brokers'.

Here each aiokafka fetcher keeps its configured wait while fetches bring records, and stretches it
to `idle_ms` once none has come for `idle_after_s`: by then nothing is buffered or paused, so the
long-poll holds every partition and the first record ends it. The first fetch that brings records
puts the short wait back.

Private aiokafka names (`Fetcher._proc_fetch_request` and what it returns, `_fetch_max_wait_ms`) are
used here only; tests/unit/test_fetch_wait.py checks the aiokafka version they were read against.
"""

from __future__ import annotations

import time

import aiokafka
from aiokafka.consumer.fetcher import Fetcher

# The aiokafka versions whose Fetcher this module was checked against (from, below).
SUPPORTED = ((0, 12, 0), (0, 15, 0))

IDLE_WAIT_MS = 500
IDLE_AFTER_S = 1.0


class _Adaptive:
    """One fetcher's waits: its configured one while busy, `idle_ms` once idle."""

    def __init__(self, busy_ms: int, idle_ms: int, idle_after_s: float) -> None:
        self.busy_ms, self.idle_ms, self.idle_after_s = busy_ms, max(idle_ms, busy_ms), idle_after_s
        self.last_records = time.monotonic()

    def wait_after(self, got_records: bool, now: float) -> int:
        if got_records:
            self.last_records = now
            return self.busy_ms
        return self.idle_ms if now - self.last_records >= self.idle_after_s else self.busy_ms


def check_version(version: str | None = None) -> None:
    version = version or aiokafka.__version__
    parts = tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
    low, high = SUPPORTED
    if not low <= parts < high:
        raise RuntimeError(f"aiokafka {version} is installed; exchange/fetch_wait.py was checked against "
                           f"{'.'.join(map(str, low))} up to (not including) {'.'.join(map(str, high))}")


def install(idle_ms: int = IDLE_WAIT_MS, idle_after_s: float = IDLE_AFTER_S) -> None:
    """Make every aiokafka consumer of this process stretch its fetch wait while idle. Idempotent."""
    check_version()
    if getattr(Fetcher, "_exchange_adaptive_wait", False):
        return
    fetch = Fetcher._proc_fetch_request

    async def proc_fetch_request(self, assignment, node_id, request):
        # True when the response brought records (or an error to hand over); records buffered
        # from before do not count: Faust leaves some partitions' records unread for a long time.
        brought = await fetch(self, assignment, node_id, request)
        policy = self.__dict__.get("_exchange_wait")
        if policy is None:
            policy = self.__dict__["_exchange_wait"] = _Adaptive(self._fetch_max_wait_ms, idle_ms, idle_after_s)
        self._fetch_max_wait_ms = policy.wait_after(bool(brought), time.monotonic())
        return brought

    Fetcher._proc_fetch_request = proc_fetch_request
    Fetcher._exchange_adaptive_wait = True
