"""Durable writes to a RocksDB-backed Faust table: changelog first, then the local store.

`table[key] = value` writes RocksDB at once and only queues the changelog message in Faust's
producer buffer: a barrier cannot be built on it (the buffer's flush gives up after 0.1 s), each
message costs Faust's per-message machinery (over 100 µs), and a crash leaves the local store ahead
of the changelog that another worker would restore from. So rows are encoded once, sent straight
to the table's changelog partition as record batches (record_batches.py), and put into the partition's RocksDB
only when Kafka has them all. Recovery is still Faust's: it replays the changelog past the
persisted offset recorded here.
"""

from __future__ import annotations

from typing import Callable

import faust
from faust.types import TP
from rocksdict import WriteBatch

from schemas.codec import codec

from .faust_internals import aiokafka_producer, partition_db
from .record_batches import send_all


class StoreRows:
    """A table's rows read straight from the local RocksDB of the partition each belongs to, and
    remembered decoded.

    Faust's table read does not know the partition outside a current event, so it asks every
    partition's store, and asks twice (contains, then get): a tenth of a busy worker's time.
    Decoding an account row costs more than copying it, and the same accounts trade again and
    again, so rows this worker wrote or read are kept decoded (handed out as copies, since the
    stages change what they read). Faust's recovery writes the store behind our back, so the
    worker forgets them all whenever partitions move.
    """

    MAX_REMEMBERED = 200_000  # rows; past it all are forgotten, and the busy ones come back first

    def __init__(self, table: faust.Table, record_of: Callable[[str], str], partition_of: Callable[[str], int],
                 copy_row: Callable[[str, dict], dict]) -> None:
        self.store = table.data
        self.record_of = record_of
        self.partition_of = partition_of
        self.copy_row = copy_row
        self._decoded: dict[str, dict | None] = {}
        self.generation = 0  # moves on with every forget(): a batch begun before does not count

    def get(self, key: str, default=None):
        row = self._decoded.get(key, _UNKNOWN)
        if row is _UNKNOWN:
            raw = partition_db(self.store, self.partition_of(key)).get(key.encode())
            row = None if raw is None else codec.decode_as(self.record_of(key), raw)
            self._remember(key, row)
        return default if row is None else self.copy_row(key, row)

    def written(self, rows_by_partition: dict[int, dict[str, dict | None]], generation: int) -> None:
        """Rows a batch begun at `generation` just wrote; these objects are never changed again."""
        if generation != self.generation:
            return  # partitions moved meanwhile: recovery may have written newer rows
        for rows in rows_by_partition.values():
            for key, row in rows.items():
                self._remember(key, row)

    def forget(self) -> None:
        self._decoded = {}
        self.generation += 1

    def _remember(self, key: str, row: dict | None) -> None:
        if len(self._decoded) >= self.MAX_REMEMBERED:
            self._decoded = {}
        self._decoded[key] = row


_UNKNOWN = object()


class TableWriter:
    def __init__(self, app: faust.App, table: faust.Table, record_of: Callable[[str], str]) -> None:
        self.app = app
        self.table = table
        self.record_of = record_of  # a row's Avro record type, from its key

    async def write_many(self, rows_by_partition: dict[int, dict[str, dict | None]]) -> None:
        """Write rows (None deletes) in order per partition and return once Kafka and RocksDB
        both have them.

        One partition's changelog messages keep their order, so if a later row is durable, every
        earlier one is too (the stages' journals rely on this).
        """
        topic = self.table.changelog_topic.get_topic_name()
        encoded = {partition: [(key.encode(), None if value is None else codec.encode(self.record_of(key), value))
                               for key, value in rows.items()]
                   for partition, rows in rows_by_partition.items() if rows}
        producer = aiokafka_producer(self.app)
        sends = {partition: await send_all(producer, topic, partition, pairs) for partition, pairs in encoded.items()}
        store = self.table.data
        for partition, pairs in encoded.items():
            last_offset = await sends[partition].last_offset()
            batch = WriteBatch(raw_mode=True)  # one RocksDB write per partition, not one per row
            for key, value in pairs:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            partition_db(store, partition).write(batch)
            store.set_persisted_offset(TP(topic, partition), last_offset)
