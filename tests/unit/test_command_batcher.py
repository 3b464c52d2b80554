"""Concurrent callers' commands go out together, each caller's in order, and each caller learns
whether Kafka has them."""

from __future__ import annotations

import asyncio

import pytest

from exchange.commands import CommandBatcher


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[list[dict]] = []
        self.fail = fail

    async def send(self, commands):
        await asyncio.sleep(0.01)  # a Kafka round trip
        if self.fail:
            raise ConnectionError("broker away")
        self.sent.append(commands)


async def test_concurrent_callers_share_messages_and_keep_their_order():
    producer = FakeProducer()
    batcher = CommandBatcher(producer, max_commands=10)
    calls = [[{"n": (caller, i)} for i in range(3)] for caller in range(8)]
    await asyncio.gather(*(batcher.send(commands) for commands in calls))
    assert len(producer.sent) < len(calls)  # shared
    assert all(len(batch) <= 10 for batch in producer.sent)
    flat = [c["n"] for batch in producer.sent for c in batch]
    assert sorted(flat) == sorted(c["n"] for commands in calls for c in commands)
    for caller in range(8):  # each caller's commands together and in order
        mine = [n for n in flat if n[0] == caller]
        assert mine == [(caller, i) for i in range(3)]
        start = flat.index((caller, 0))
        assert flat[start:start + 3] == mine


async def test_a_failed_send_reaches_every_caller_of_its_batch():
    batcher = CommandBatcher(FakeProducer(fail=True))
    results = await asyncio.gather(batcher.send([{"a": 1}]), batcher.send([{"b": 2}]), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    with pytest.raises(ConnectionError):
        await batcher.send([{"c": 3}])
