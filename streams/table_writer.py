"""Durable writes to a RocksDB-backed Faust table: changelog first, then the local store.

`table[key] = value` writes RocksDB at once and only queues the changelog message in Faust's
producer buffer: a barrier cannot be built on it (the buffer's flush gives up after 0.1 s), each
message costs Faust's per-message machinery (over 100 µs), and a crash leaves the local store ahead
of the changelog that another worker would restore from. So rows are encoded once, sent straight
through the producer to the table's changelog partition, and put into the partition's RocksDB
only when Kafka has them all. Recovery is still Faust's: it replays the changelog past the
persisted offset recorded here.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import faust
from faust.types import TP

from schemas.codec import codec


class TableWriter:
    def __init__(self, app: faust.App, table: faust.Table, record_of: Callable[[str], str]) -> None:
        self.app = app
        self.table = table
        self.record_of = record_of  # a row's Avro record type, from its key

    async def write(self, partition: int, rows: dict[str, dict | None]) -> None:
        """Write rows (None deletes) in order and return once Kafka and RocksDB both have them.

        The changelog messages share one partition and the producer keeps their order, so if a
        later row is durable, every earlier one is too (the stages' journals rely on this).
        """
        if not rows:
            return
        topic = self.table.changelog_topic.get_topic_name()
        encoded = [(key.encode(), None if value is None else codec.encode(self.record_of(key), value))
                   for key, value in rows.items()]
        sends = [await self.app.producer.send(topic, key, value, partition, None, None) for key, value in encoded]
        sent = await asyncio.gather(*sends)
        store = self.table.data
        db = store._db_for_partition(partition)
        for key, value in encoded:
            if value is None:
                db.delete(key)
            else:
                db.put(key, value)
        store.set_persisted_offset(TP(topic, partition), max(metadata.offset for metadata in sent))
