"""take_ready acknowledges a batch only when its agent got through it.

Driven through the few Faust stream internals it uses, by a stand-in stream: what is checked is
which events are acknowledged, and so which offsets Faust may commit.
"""

import asyncio

import pytest
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from streams.take import take_ready


class _Stream:
    def __init__(self) -> None:
        self.enable_acks = True
        self.should_stop = False
        self.current_event = None
        self.acked: list[str] = []
        self.channel = type("Channel", (), {"queue": ThrowableQueue(10, flow_control=FlowControlEvent())})()
        self._processors = []

    def add_processor(self, processor) -> None:
        self._processors.append(processor)

    def _enable_passive(self, channel) -> None:
        pass  # the test hands events to the processor itself, as the drainer would

    async def wait_for_stopped(self, event: asyncio.Event) -> bool:
        await event.wait()
        return False

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()

    async def ack(self, event) -> None:
        self.acked.append(event)

    async def arrive(self, *events: str) -> None:
        for event in events:
            self.current_event = event
            for processor in self._processors:
                await processor(event)


async def _started(stream: _Stream):
    batches = take_ready(stream, 10, 0.005)
    first = asyncio.ensure_future(batches.__anext__())
    await asyncio.sleep(0)  # take_ready installs its processor, then waits for an event
    return batches, first


def test_a_batch_done_is_acknowledged():
    async def scenario():
        stream = _Stream()
        batches, first = await _started(stream)
        await stream.arrive("a", "b")
        assert await first == ["a", "b"]
        assert stream.acked == []  # not before the agent is done with it
        nxt = asyncio.ensure_future(batches.__anext__())
        await asyncio.sleep(0)
        assert stream.acked == ["a", "b"]
        nxt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await nxt

    asyncio.run(scenario())


@pytest.mark.parametrize("gives_up", ["raises", "is cancelled"])
def test_a_batch_its_agent_gave_up_on_is_not_acknowledged(gives_up):
    async def agent(stream: _Stream) -> None:
        async for events in take_ready(stream, 10, 0.005):
            assert events == ["a", "b"]
            if gives_up == "raises":
                raise RuntimeError("the stage failed on this batch")
            await asyncio.sleep(3600)  # waiting on Kafka when the worker stops

    async def scenario():
        stream = _Stream()
        task = asyncio.ensure_future(agent(stream))
        await asyncio.sleep(0)
        await stream.arrive("a", "b")
        await asyncio.sleep(0.01)
        if gives_up == "is cancelled":
            task.cancel()
        with pytest.raises((RuntimeError, asyncio.CancelledError)):
            await task
        await asyncio.sleep(0)  # the generator is closed now
        assert stream.acked == []  # so Faust commits none of them, and they are read again
        # Faust restarts an agent on the same stream: the new take alone gets what comes next.
        assert stream._processors == []
        batches, first = await _started(stream)
        await stream.arrive("c")
        assert await first == ["c"]
        assert len(stream._processors) == 1

    asyncio.run(scenario())


async def test_partitions_paused_by_a_full_queue_are_fetched_again_after_a_batch_below_its_high_mark():
    """mode restarts paused partitions one per read below 40 % of the queue: under steady load
    the partitions still fetching keep it above, and the paused ones wait. take_ready restarts
    them all after a batch whenever the queue is below its high mark (80 %)."""
    stream = _Stream()
    queue = stream.channel.queue
    resumed: list[int] = []
    for i in range(10):  # from 8 of 10 on, each message's partition stops fetching
        queue.put_nowait_enhanced(i, on_pressure_high=lambda: None,
                                  on_pressure_drop=lambda i=i: resumed.append(i))
    assert len(queue._pending_pressure_drop_callbacks) == 2
    for _ in range(3):
        await queue.get()
    assert queue.qsize() == 7 and resumed == []  # below the high mark, above 40 %: still paused
    batches, first = await _started(stream)
    await stream.arrive("a")
    assert await first == ["a"]
    assert resumed == []
    second = asyncio.ensure_future(batches.__anext__())  # the agent is done with the batch
    for _ in range(5):
        await asyncio.sleep(0)
    assert stream.acked == ["a"] and sorted(resumed) == [8, 9]
    second.cancel()
