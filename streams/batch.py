"""One batch of input, processed the same way by every consumer of the exchange's topics.

The accounts and matching agents (worker.py), the marketdata and recorder agents
(read_worker.py), the crash-injection harness in tests/unit/streams/pipeline.py and
`exchange bench stages` all run what they took through `run_batch`, each with its own adapters:

1. check input order: mend what an earlier take left (a gap Faust skipped over), then admit each
   message once, in offset order (input_order.py);
2. decode each admitted message; one that cannot be decoded becomes a dead letter;
3. the stage decides message by message; a message it refuses (`Stage.refusals`) becomes a dead
   letter and changes nothing;
4. the stage closes the batch: rows to write (the worker's tables: per partition, in order; the
   recorder: Cassandra writes) and messages to send, dead letters included;
5. make the batch durable in the stage's order, waiting for each step:
   - rows first (accounts, recorder): a replay finds its decisions recorded and sends the same
     outputs again (accounts_stage.py);
   - outputs first (matching, marketdata): a replay from the rows of before derives and sends the
     same outputs again (matching_stage.py), which consumers recognise as duplicates;
6. return: only then does the caller acknowledge the take (take.py), so a committed offset never
   outruns what its messages caused.

A step that raises leaves the take unacknowledged; the worker that ran it is restarted and
replays from the committed offsets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

from exchange.commands import now_ms
from schemas.codec import DecodeError, codec
from schemas.topics import DEAD_LETTERS, Topic

from .metrics import DEAD_LETTERS as DEAD_LETTER_COUNT
from .outputs import ROWS_FIRST, Decided, Outgoing

log = logging.getLogger("exchange.batch")



class Input(Protocol):
    """One message as taken from a topic: what Faust's Message offers and the harness imitates."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Stage(Protocol):
    order: str  # ROWS_FIRST or OUTPUTS_FIRST
    refusals: tuple[type[Exception], ...]  # what makes a decoded message a dead letter

    def begin(self, now_ms: int) -> None:
        """Start a batch: nothing decided yet."""

    def decide(self, message: Input, record: dict) -> None:
        """Decide one message; raising one of `refusals` leaves the batch as it was before it."""

    def end(self) -> Decided:
        """Close the batch: everything it decided."""


class Admission(Protocol):
    async def repair(self) -> None: ...

    async def prepare(self, messages: Iterable[Input]) -> None: ...

    def admit(self, message: Input) -> bool: ...


class Durable(Protocol):
    """Where a batch's effects go, each call returning once they are durable there."""

    async def write_rows(self, rows: Any) -> None: ...

    async def send(self, messages: list[Outgoing]) -> None: ...


@dataclass(frozen=True)
class Taken:
    """An input message held in memory: what the in-memory runs (tests, `exchange bench stages`)
    hand to `run_batch` where a worker hands Faust's messages."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class AdmitAll:
    """Admission for inputs that are delivered in order by construction (the in-memory runs)."""

    async def repair(self) -> None:
        return None

    async def prepare(self, messages: Iterable[Input]) -> None:
        return None

    def admit(self, message: Input) -> bool:
        return True


async def run_batch(messages: Sequence[Input], stage: Stage, topics: Mapping[str, Topic], admission: Admission,
                    durable: Durable, clock=now_ms, observe=None) -> Decided:
    """Run one take through `stage` and make its effects durable; see the module's steps.

    `topics` maps each input topic's name to its Topic (whose record decodes it); `observe`, if
    given, sees each decoded record before the stage does (metrics).
    """
    await admission.repair()
    await admission.prepare(messages)
    dead: list[Outgoing] = []
    decoded: list[tuple[Input, dict]] = []
    for message in messages:
        if not admission.admit(message):
            continue
        try:
            if message.value is None:
                raise DecodeError("a message without a value")
            decoded.append((message, codec.decode_as(topics[message.topic].record, message.value)))
        except DecodeError as exc:
            dead.append(dead_letter(message, exc))
    stage.begin(clock())
    for message, record in decoded:
        if observe is not None:
            observe(message, record)
        try:
            stage.decide(message, record)
        except stage.refusals as exc:
            dead.append(dead_letter(message, exc))
    decided = stage.end()
    decided.messages.extend(dead)
    if stage.order == ROWS_FIRST:
        await durable.write_rows(decided.rows)
        await durable.send(decided.messages)
    else:
        await durable.send(decided.messages)
        await durable.write_rows(decided.rows)
    return decided


def run_sync(coroutine):
    """Run a coroutine that never waits (in-memory adapters) to its end, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("an in-memory batch waited on something")


# A dead letter keeps at most this much of the message's value: one near Kafka's size limit would
# not fit in a dead letter with its fields. The whole message stays on its own topic, at the
# position the dead letter names, for that topic's retention.
DEAD_LETTER_VALUE_MAX = 64 * 1024


def dead_letter(message: Input, exc: Exception) -> Outgoing:
    reason = f"{type(exc).__name__}: {exc}"[:2000]
    value = message.value
    if value is not None and len(value) > DEAD_LETTER_VALUE_MAX:
        reason = f"{reason} (value cut to its first {DEAD_LETTER_VALUE_MAX} of {len(value)} bytes)"
        value = value[:DEAD_LETTER_VALUE_MAX]
    log.warning("dead letter from %s[%s]@%s: %s", message.topic, message.partition, message.offset, reason,
                extra={"topic": message.topic, "partition": message.partition, "offset": message.offset,
                       "reason": reason})
    DEAD_LETTER_COUNT.labels(message.topic).inc()
    record = {"topic": message.topic, "partition": message.partition, "offset": message.offset,
              "key": None if message.key is None else message.key[:1024], "value": value, "reason": reason,
              "ts": now_ms()}
    return Outgoing(DEAD_LETTERS, message.topic, record, 0)
