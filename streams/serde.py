"""Faust codecs for table keys and values, so every changelog message is Avro like the rest."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from schemas.codec import codec


class Utf8(codecs.Codec):
    """Keys are plain UTF-8 (account ids, order and market keys), readable by any consumer."""

    def _dumps(self, obj: Any) -> bytes:
        return obj.encode() if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> str:
        return bytes(s).decode()


class AvroRecord(codecs.Codec):
    """One Avro record type, single-object encoded by the shared codec."""

    def __init__(self, record: str) -> None:
        super().__init__(record=record)
        self.record = record

    def _dumps(self, obj: Any) -> bytes | None:
        # None is a table delete: the changelog gets a tombstone, which compaction removes.
        return None if obj is None else codec.encode(self.record, obj)

    def _loads(self, s: bytes) -> Any:
        return codec.decode_as(self.record, bytes(s))


UTF8 = Utf8()


class AvroRecords(codecs.Codec):
    """Values of one of several Avro record types (a table whose keys say which), decode only:
    rows are encoded by TableWriter, which knows each key's record."""

    def __init__(self, *records: str) -> None:
        super().__init__(records=records)
        self.records = frozenset(records)

    def _dumps(self, obj: Any) -> bytes:
        raise TypeError("rows of this table are written by TableWriter")

    def _loads(self, s: bytes) -> Any:
        name, value = codec.decode(bytes(s))
        if name not in self.records:
            raise ValueError(f"{name} is not a row of this table")
        return value
