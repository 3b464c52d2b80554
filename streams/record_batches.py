"""Sending many messages to Kafka as whole record batches, with one delivery future per batch.

`producer.send()` costs a worker about 25 µs a message: a future each, the accumulator's
bookkeeping, and in CPython 3.11 a getpid() system call to find the running loop for that
future (seen at 7 % of a busy worker). The stages send hundreds of messages per input batch,
and only need to know when all of them are on Kafka, so they build aiokafka record batches
themselves and wait on one future per batch.

A partition's batches are queued in the order given, and aiokafka keeps that order on the wire,
so the changelog order the stages rely on holds.
"""

from __future__ import annotations

import asyncio
from typing import Iterable


class Sent:
    """Messages queued for one topic partition: wait for them with `last_offset()`."""

    def __init__(self) -> None:
        self._batches: list[tuple[asyncio.Future, int]] = []  # (delivery future, messages in it)

    async def last_offset(self) -> int | None:
        """Wait until Kafka has every message; the offset of the last one (None if none)."""
        if not self._batches:
            return None
        results = await asyncio.gather(*(future for future, _ in self._batches))
        return results[-1].offset + self._batches[-1][1] - 1


async def send_all(producer, topic: str, partition: int, messages: Iterable[tuple[bytes | None, bytes | None]]) -> Sent:
    """Queue (key, value) messages for one partition in as few record batches as they fit."""
    sent = Sent()
    batch, count = producer.create_batch(), 0
    for key, value in messages:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            sent._batches.append((await producer.send_batch(batch, topic, partition=partition), count))
            batch, count = producer.create_batch(), 0
            batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any message
        count += 1
    if count:
        sent._batches.append((await producer.send_batch(batch, topic, partition=partition), count))
    return sent
