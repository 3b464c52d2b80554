"""Each input partition is processed strictly in offset order, whatever Faust delivers.

Both stages rely on it: the accounts stage knows a command message was decided because its
account row records a later offset, and the matching stage skips a forwarded batch whose source
offset is not above its watermark. faust-streaming 0.15 can drop buffered messages at a
rebalance and go on delivering later ones (seen here: offsets 416..602 of a partition never
reached the agent, 603 on did); processed as they came, those later messages would make the
dropped ones look already done when they are read again, and they would be lost.

So an agent admits a message only if it is the next one of its partition. A message past a gap
is left unprocessed and never acknowledged, and `repair` seeks the partition back to the first
missing offset; messages already processed (seen again after such a seek or a re-read) are
skipped and acknowledged.
"""

from __future__ import annotations

import logging
import time

from .faust_internals import committed_offset

RESEEK_AFTER = 2.0  # seconds before seeking to the same gap again

log = logging.getLogger("exchange.input_order")


class InputOrder:
    def __init__(self, consumer_of) -> None:
        self._consumer_of = consumer_of  # -> the Faust consumer (created after the app)
        self._next: dict = {}  # tp -> next offset to process
        self._gaps: dict = {}  # tp -> first missing offset, to seek back to
        self._sought: dict = {}  # tp -> (offset, when, how many times) of the last seek
        self._log_start: dict = {}  # tp -> first offset, for partitions the group never committed

    def keep_only(self, assigned) -> None:
        """Partitions moved. A partition this worker keeps goes on from where it was (Faust
        re-delivers from the committed offset, and what was processed is skipped); one it gains
        starts from the committed offset its previous owner left."""
        for tp in [tp for tp in self._next if tp not in assigned]:
            del self._next[tp]
        self._gaps.clear()
        self._sought.clear()
        self._log_start.clear()

    async def prepare(self, messages) -> None:
        """Before admitting a batch: learn where never-committed partitions start.

        The first message Faust delivers from such a partition need not be its first (a batch
        dropped at a rebalance), so its expected offset is the log's start, asked of the broker.
        """
        consumer = self._consumer_of()
        unknown = {m.tp for m in messages if m.tp not in self._next and m.tp not in self._log_start
                   and committed_offset(consumer, m.tp) is None}
        if unknown:
            self._log_start.update(await consumer.earliest_offsets(*unknown))

    def admit(self, message) -> bool:
        """True if the message is the next of its partition and is to be processed now."""
        tp, offset = message.tp, message.offset
        expected = self._next.get(tp)
        committed = committed_offset(self._consumer_of(), tp)
        if committed is not None and (expected is None or committed > expected):
            # Faust drops whatever it delivers below its committed offset, and commits only what
            # was processed (faust_support.never_commit_unread): what lies below was done, here or
            # by the partition's previous owner. Faust learns the offset only as its tables
            # finish recovering, so it can come after this partition's first messages.
            expected = committed
        if expected is None:
            expected = self._log_start.get(tp, offset)  # never committed: from the log's start
        if offset == expected:
            self._next[tp] = offset + 1
            self._gaps.pop(tp, None)  # the missing message came after all; a later gap seeks again
            return True
        if offset > expected:
            self._gaps.setdefault(tp, expected)
            # Faust acknowledges every message of a batch, and commits a run of acknowledged
            # offsets even with the one before it missing; marked as acknowledged already, this
            # message is never counted, so no commit passes the gap.
            message.acked = True
        return False

    def next_offset(self, tp) -> int | None:
        """The offset after the last one processed: everything below it is done."""
        return self._next.get(tp)

    async def repair(self) -> None:
        """Seek each partition with a gap back to its first missing offset.

        A gap is never skipped: the worker's committed offsets cover only what it processed (see
        faust_support.never_commit_unread), so a missing message is always there to be read
        again, and waiting for it is right even if that takes several seeks.
        """
        if not self._gaps:
            return
        consumer = self._consumer_of()
        gaps, self._gaps = self._gaps, {}
        now = time.monotonic()
        for tp, missing in gaps.items():
            last_missing, last_time, tries = self._sought.get(tp, (None, 0.0, 0))
            if last_missing == missing and now - last_time < RESEEK_AFTER:
                continue  # messages fetched before the seek are still arriving
            tries = tries + 1 if last_missing == missing else 1
            log.log(logging.WARNING if tries <= 3 else logging.ERROR,
                    "%s[%s]: messages from offset %s were not delivered; reading them again (seek %s)",
                    tp.topic, tp.partition, missing, tries)
            self._sought[tp] = (missing, now, tries)
            await consumer.seek(tp, missing)
