"""Every use of faust-streaming's private attributes and methods, in one place.

The stages need a few things Faust does not offer publicly: where a partition's committed and read
offsets stand, the acknowledgements it holds, the aiokafka producer and consumer under it, the
RocksDB database of a table partition, and two of its behaviours changed (the fetch wait, the
offset-gap record). Each is a named function here, so that an upgrade of Faust has one module to
read against its new source, and `check_version` refuses at start-up a Faust these were not
written against. tests/unit/streams/test_faust_internals.py checks that nothing else in the code
reaches into Faust's private names.

What each reads or changes, in faust-streaming 0.15:
- `Consumer._committed_offset`, `_read_offset`: {TP: offset}, kept by Faust as it commits and reads;
- `Consumer._acked`, `_acked_index`: per TP, the acknowledged offsets not committed yet;
- `Consumer._add_gap`: the coroutine Faust calls when its fetcher sees offsets skipped;
- `Consumer._active_partitions`, `_paused_partitions`, `_buffered_partitions`, `_gap`: flow state,
  read for diagnostics only;
- `AIOKafkaConsumerThread._create_worker_consumer`: builds the aiokafka consumer, whose
  `_fetch_max_wait_ms` it reads when it starts;
- `Producer._ensure_producer()`: the started aiokafka producer;
- `Producer._settings_extra()`: the aiokafka producer's settings Faust adds (idempotence, acks);
- `Stream._enable_passive(channel)`, `Stream._processors`: how a stream is drained without an
  `async for`, and the processors it runs per event;
- mode's `FlowControlQueue._pending_pressure_drop_callbacks`: how to restart the partitions a
  stream's queue stopped fetching when it filled up;
- `Store._db_for_partition(partition)`: a RocksDB table partition's database.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import faust

# The faust-streaming versions whose internals this module was checked against (from, below).
SUPPORTED = ((0, 15, 0), (0, 16, 0))


def check_version(version: str | None = None) -> None:
    """Refuse to start on a Faust whose internals may differ from what this module uses."""
    version = version or faust.__version__
    parts = tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
    low, high = SUPPORTED
    if not low <= parts < high:
        raise RuntimeError(
            f"faust-streaming {version} is installed; the exchange uses its internals as of "
            f"{'.'.join(map(str, low))} up to (not including) {'.'.join(map(str, high))}: "
            "install a version in that range (constraints.txt), or check streams/faust_internals.py "
            "against the new one and widen SUPPORTED")


# -- the consumer ---------------------------------------------------------------------------------

def committed_offset(consumer, tp) -> int | None:
    """The partition's committed offset, or None if the group never committed it."""
    return consumer._committed_offset.get(tp)


def read_offset(consumer, tp) -> int | None:
    return consumer._read_offset.get(tp)


def acked_offsets(consumer, tp) -> list[int]:
    """The acknowledged offsets not committed yet: Faust's own list, which callers may tidy."""
    return consumer._acked.get(tp) or []


def forget_acked(consumer, tp) -> None:
    """Drop the acknowledgements held for a partition, as before a seek back."""
    consumer._acked.pop(tp, None)
    consumer._acked_index.pop(tp, None)


def replace_gap_record(app: faust.App, record: Callable[[Any, int, int], Awaitable[None]]) -> None:
    """Call `record(tp, offset_from, offset_to)` instead of Faust's own when offsets are skipped."""
    app.consumer._add_gap = record


def shorten_fetch_wait(wait_ms: int) -> None:
    """Every aiokafka consumer Faust creates from now on waits at most `wait_ms` for a fetch."""
    from faust.transport.drivers import aiokafka as driver

    thread = driver.AIOKafkaConsumerThread
    if getattr(thread, "_exchange_fetch_wait", None) == wait_ms:
        return
    create = thread._create_worker_consumer

    def create_worker_consumer(self, transport):
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = wait_ms  # read when the consumer starts
        return consumer

    thread._create_worker_consumer = create_worker_consumer
    thread._exchange_fetch_wait = wait_ms


def flow_state(consumer) -> dict[str, Any]:
    """What the consumer's flow control is doing, for `kill -TTIN` diagnostics."""
    return {
        "active": sorted(consumer._active_partitions or ()),
        "paused": sorted(consumer._paused_partitions),
        "buffered": sorted(consumer._buffered_partitions),
        "flow_active": consumer.flow_active,
        "partitions": {tp: {"read": read_offset(consumer, tp), "committed": committed_offset(consumer, tp),
                            "acked": sorted(acked_offsets(consumer, tp)), "gaps": sorted(consumer._gap.get(tp, ()))}
                       for tp in sorted(consumer.assignment())},
    }


# -- the producer ---------------------------------------------------------------------------------

def idempotent_producer() -> None:
    """Every Faust producer from now on is idempotent, as every other producer of the exchange is.

    Faust asks aiokafka for idempotence only inside transactions. Without it, a send retried after
    a broker lost its connection (a leader moving, a rolling restart) can land twice in a topic:
    the stages would drop the duplicate, but an outside reader would see it."""
    from faust.transport.drivers import aiokafka as driver

    producer = driver.Producer
    if getattr(producer, "_exchange_idempotent", False):
        return
    extra = producer._settings_extra

    def settings_extra(self):
        return {**extra(self), "acks": "all", "enable_idempotence": True}

    producer._settings_extra = settings_extra
    producer._exchange_idempotent = True


def aiokafka_producer(app: faust.App):
    """The aiokafka producer under the app's Faust producer (started with the app)."""
    return app.producer._ensure_producer()


# -- streams --------------------------------------------------------------------------------------

def drain_passively(stream) -> None:
    """Let the stream's processors run on every event without an `async for` over it."""
    stream._enable_passive(stream.channel)


def remove_processor(stream, processor) -> None:
    stream._processors.remove(processor)


def resume_paused(queue) -> None:
    """Fetch again every partition the queue paused, if it is below its high-pressure mark.

    When a stream's queue fills past 80 %, Faust stops fetching each partition that delivers to
    it, and mode's queue restarts them one per read once it is below 40 % (all of them only when
    it is empty). Under steady load the partitions still fetching keep the queue above 40 %, so
    the paused ones wait for as long as the load lasts: the recorder's input partitions did,
    for the whole of a benchmark, and were read only when the load stopped. Restarting them all
    whenever the queue is below 80 % keeps the back-pressure (a partition delivering to a full
    queue is paused again) and shares it among the partitions.
    """
    pending = queue._pending_pressure_drop_callbacks
    if pending and queue.qsize() < queue.pressure_high_size:
        for resume in list(pending):
            resume()
        pending.clear()
        queue.on_pressure_drop()


# -- table stores ---------------------------------------------------------------------------------

def partition_db(store, partition: int):
    """The RocksDB database (a dict-like rocksdict) of one partition of a table's store."""
    return store._db_for_partition(partition)
