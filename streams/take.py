"""Batches of what has arrived: Faust's `take_events` without its fixed wait.

`Stream.take_events(n, within)` yields when n events are buffered or `within` has passed since
the previous batch was done. Messages here carry many commands each, so n is rarely reached,
and every batch at every hop waited out the whole window: 5 ms per hop per round, the largest
part of an order's latency below saturation.

`take_ready` yields as soon as the events that have already arrived are in the buffer. Under
load the batches grow by themselves: whatever arrived while one batch was processed (mostly
waiting for Kafka) makes the next. Idle, it waits for the first event without polling.

It keeps `take_events`' contract, on the same Faust internals, with one difference: events are
acknowledged only once their batch is done, never when the agent gives up on it (take_events
acknowledges them either way). Never more than `max_messages` at a time; the stream's
background drainer (`_enable_passive`) fills the buffer through a processor. While a batch is
processed the drainer holds at most one more event, so the rest waits in the channel's queue,
and the buffer is filled from there once the batch is done. After each batch, partitions the
queue stopped fetching when it filled up are fetched again if it is below its high mark
(`faust_internals.resume_paused`), so no partition waits while others keep the queue busy.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Sequence

from faust.types import EventT, StreamT
from mode.utils.futures import notify

from .faust_internals import drain_passively, remove_processor, resume_paused


async def take_ready(stream: StreamT, max_messages: int, within: float) -> AsyncIterator[Sequence[EventT]]:
    """Yield lists of events: what is ready, at most `max_messages`, gathered for at most `within` s."""
    loop = asyncio.get_running_loop()
    events: list[EventT] = []
    arrived = asyncio.Event()  # the buffer is not empty
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future | None = None

    async def add_to_buffer(value):
        nonlocal consuming
        if consuming is not None:  # a batch is being processed: hold this one until it is done
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_ready found no current event")
        events.append(event)
        arrived.set()
        if len(events) >= max_messages:
            full.set()
            consumed.clear()
            await stream.wait(consumed)
        return value

    stream.enable_acks = False  # events are acknowledged here, once their batch is done
    stream.add_processor(add_to_buffer)
    drain_passively(stream)
    queue = stream.channel.queue
    try:
        while not stream.should_stop:
            if await stream.wait_for_stopped(arrived):
                break
            # Let the drainer move what is already queued: one event per turn of the loop.
            deadline = loop.time() + within
            while not full.is_set() and not queue.empty() and loop.time() < deadline:
                await asyncio.sleep(0)
            consuming = loop.create_future()
            done = False
            try:
                yield list(events)
                done = True
            finally:
                # Only a batch its agent got through is acknowledged. Faust's take_events
                # acknowledges in `finally`, so a batch whose agent raised or was cancelled (a
                # crash, a rebalance, SIGTERM mid-batch) was committed without its effects, and
                # skipped after a restart.
                if done:
                    for event in events:
                        await stream.ack(event)
                events.clear()
                arrived.clear()
                resume_paused(queue)
                notify(consuming)
                full.clear()
                consumed.set()
    finally:
        # An agent restarted after a crash gets the same stream back: this take's processor must
        # not go on filling a buffer nobody reads (full, it would hold the stream's drainer for
        # good). Acknowledgements stay off: what is drained meanwhile is read again (input order).
        remove_processor(stream, add_to_buffer)
