"""Re-reads messages that Faust dropped during a rebalance, so a partition's commits never stall.

faust-streaming 0.15 clears the streams' buffered messages when a rebalance starts, but its fetch
position can run on past them (seen here: offsets 867..1004 of a partition never reached the agent
while 1005..1926 did). Faust commits only a gapless run of acknowledged offsets, so that
partition's committed offset then stays put for good while the worker looks idle; a restart
replays from it and the same can happen again. Right after start-up a partition has also been
seen never to deliver anything at all.

The guard looks at each input partition every few seconds. A partition is stuck if it has
messages past its committed offset and neither its committed offset, its read offset nor its
acknowledgements have moved for several checks: then it seeks back to the committed offset.
Re-reading is safe because every stage applies a message once however often it sees it (see
accounts_stage.py, matching_stage.py and input_order.py). It also removes repeated offsets from
Faust's list of acknowledged ones, which otherwise slow commits to a crawl.

While a rebalance runs (or Faust has stopped the flow for another reason) nothing is read and
there is nothing to re-read. A rebalance takes seconds; a flow stopped for FLOW_STOPPED_WARN_S or
more is a worker that looks alive and does nothing, so the guard says so in its log, once for
each such interval, until the flow runs again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .faust_internals import acked_offsets, committed_offset, forget_acked, read_offset

log = logging.getLogger("exchange.stall_guard")

CHECK_EVERY = 2.0  # seconds
STUCK_AFTER = 3  # checks without progress
FLOW_STOPPED_WARN_S = 60.0


class StallGuard:
    def __init__(self, app, topics: set[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.topics = topics
        self._seen: dict = {}  # tp -> (committed, read, acked count, checks unchanged)
        self._clock = clock
        self._stopped_since: float | None = None
        self._warnings = 0  # said about the current stop

    async def check(self) -> None:
        consumer = self.app.consumer
        if self.app.rebalancing or not consumer.flow_active:
            self._seen.clear()
            self._flow_stopped()
            return
        self._stopped_since = None
        inputs = [tp for tp in consumer.assignment() if tp.topic in self.topics]
        # Asked of the broker: a partition that never delivered has no fetched highwater mark.
        ends = await consumer.highwaters(*inputs) if inputs else {}
        for tp in inputs:
            acked = acked_offsets(consumer, tp)
            if acked and len(set(acked)) != len(acked):
                # A message delivered twice (around a rebalance) can be acknowledged twice, and a
                # repeated offset ends Faust's gapless run: commits then advance an offset or two
                # per commit interval.
                acked[:] = sorted(set(acked))
            committed = committed_offset(consumer, tp) or 0  # None: the group never committed
            read = read_offset(consumer, tp)
            end = ends.get(tp)
            if end is None or committed >= end:
                self._seen.pop(tp, None)  # everything there is committed
                continue
            state = (committed, read, len(acked))
            previous = self._seen.get(tp)
            unchanged = previous[3] + 1 if previous is not None and previous[:3] == state else 0
            self._seen[tp] = (*state, unchanged)
            if unchanged >= STUCK_AFTER:
                await self._reread(consumer, tp, committed, read)

    def _flow_stopped(self) -> None:
        now = self._clock()
        if self._stopped_since is None:
            self._stopped_since, self._warnings = now, 0
        stopped = now - self._stopped_since
        if stopped >= FLOW_STOPPED_WARN_S * (self._warnings + 1):
            self._warnings += 1
            log.warning("nothing read for %.0f s: the flow is stopped (rebalancing: %s)", stopped,
                        bool(self.app.rebalancing))

    async def _reread(self, consumer, tp, committed: int, read: int | None) -> None:
        log.warning("%s[%s]: committed offset stays at %s (read up to %s); re-reading from it",
                    tp.topic, tp.partition, committed, read)
        forget_acked(consumer, tp)
        await consumer.seek(tp, committed)
        self._seen.pop(tp, None)
