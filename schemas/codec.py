"""Avro single-object encoding for every message on Kafka, from the .avsc files next to this module.

A message is the two-byte marker C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer's schema (its parsing canonical form), then the Avro binary body. Any consumer holding the
.avsc files can decode any message and tell record types apart without a schema registry; Apache
Avro's own `BinaryMessageDecoder` does (tests/integration/test_outside_consumers.py).

Messages written before the header was corrected carry the fingerprint's 8 bytes in the reverse
order. They stay readable: every schema is also registered under its reversed fingerprint.

Older versions of named types live in `avro/history/<generation>/`. Each generation is the set of
types as they were; every record is registered under it too, so a message written by an older
producer resolves to today's reader schema (new fields take their defaults).

Messages are written and read by functions compiled from the schemas (writers.py, readers.py),
faster than fastavro's C extension, which interprets the schema at every value; fastavro reads
messages of older schema versions, resolving them to today's. The tests check the bytes against
fastavro and the reference `avro` package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from .readers import Reader, compile_reader
from .writers import Writer, compile_writer

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8
AVRO_DIR = Path(__file__).parent / "avro"


class DecodeError(ValueError):
    """Bytes that are not a message we know: bad marker, unknown fingerprint, or a broken body."""


@dataclass(frozen=True)
class _Writer:
    name: str
    schema: Any  # fastavro's parsed form
    json: dict
    header: bytes
    write: Writer  # compiled from the schema (writers.py)


def _load(files: list[Path]) -> dict[str, dict]:
    """Each file's top-level type, by full name."""
    types = {}
    for path in files:
        raw = json.loads(path.read_text())
        name = raw["name"] if "." in raw["name"] else f"{raw['namespace']}.{raw['name']}"
        types[name] = raw
    return types


def expand(node: Any, types: dict[str, dict], seen: set[str] | None = None) -> Any:
    """Replace references to other files' types by their definitions: a self-contained schema.

    Avro defines a named type once per schema, so later references stay names.
    """
    seen = set() if seen is None else seen
    if isinstance(node, str):
        if node in types and node not in seen:
            seen.add(node)
            return expand(types[node], types, seen)
        return node
    if isinstance(node, list):
        return [expand(branch, types, seen) for branch in node]
    kind = node["type"]
    if kind == "record":
        seen.add(node["name"] if "." in node["name"] else f"{node.get('namespace', '')}.{node['name']}")
        return {**node, "fields": [{**f, "type": expand(f["type"], types, seen)} for f in node["fields"]]}
    if kind == "array":
        return {**node, "items": expand(node["items"], types, seen)}
    if kind == "map":
        return {**node, "values": expand(node["values"], types, seen)}
    if isinstance(kind, (str, list)) and kind not in ("enum", "fixed"):
        return expand(kind, types, seen)
    return node


def _fingerprint(schema: dict) -> bytes:
    """The 8 header bytes: the CRC-64-AVRO value, little-endian.

    fastavro returns those bytes already in wire order, as hex (for "null": 8a8f25cce724dd63, the
    value 0x63dd24e7cc258f8a), so they are taken as they come, not read as a number.
    """
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def _chooses_records(node: Any) -> bool:
    """True if a union somewhere in this (expanded) schema has more than one record branch."""
    if isinstance(node, list):
        return sum(map(_is_record, node)) > 1 or any(_chooses_records(b) for b in node)
    if isinstance(node, dict):
        kind = node["type"]
        if kind == "record":
            return any(_chooses_records(f["type"]) for f in node["fields"])
        if kind == "array":
            return _chooses_records(node["items"])
        if kind == "map":
            return _chooses_records(node["values"])
        return isinstance(kind, (dict, list)) and _chooses_records(kind)
    return False


def _is_record(branch: Any) -> bool:
    # A dotted name is a reference to a type defined earlier in the schema. Counting it as a
    # record even when it is an enum errs the safe way: names asked for, decoding a bit slower.
    return (isinstance(branch, dict) and branch.get("type") == "record") or (
        isinstance(branch, str) and "." in branch)


@dataclass(frozen=True)
class _Reader:
    name: str  # the record type, as today's schema names it
    read: Reader  # (message, where its body starts) -> (record, where it ends)


def _resolving(writer: Any, reader: Any, named: bool) -> Reader:
    """fastavro reading an older version of a record as today's (new fields take defaults)."""

    def read(data: bytes, start: int) -> tuple[dict, int]:
        body = BytesIO(data[start:])
        # Record names are kept only where a union has several records (a Command's body), so a
        # consumer can tell a PlaceOrder from a CancelOrder, as the compiled readers do.
        record = fastavro.schemaless_reader(body, writer, reader, return_record_name=named,
                                            return_record_name_override=named)
        return record, start + body.tell()  # type: ignore[return-value]  # a record reads as a dict

    return read


class Codec:
    def __init__(self, avro_dir: Path = AVRO_DIR) -> None:
        self._types = _load(sorted(avro_dir.glob("*.avsc")))
        self._writers: dict[str, _Writer] = {}
        self._readers: dict[bytes, _Reader] = {}  # by the writer schema's fingerprint
        for name, raw in self._types.items():
            if raw["type"] != "record":
                continue
            schema = expand(name, self._types)
            parsed = parse_schema(schema)
            writer = _Writer(name, parsed, schema, MARKER + _fingerprint(schema), compile_writer(schema))
            self._writers[name] = writer
            self._readers[writer.header[2:]] = _Reader(name, compile_reader(schema))
        for generation in sorted(p for p in (avro_dir / "history").glob("*") if p.is_dir()):
            self._register_generation(generation)
        self._register_reversed_headers()

    def _register_generation(self, generation: Path) -> None:
        """Every record as it was written while this generation's types were current."""
        types = {**self._types, **_load(sorted(generation.glob("*.avsc")))}
        for name, writer in self._writers.items():
            old = expand(name, types)
            self._readers.setdefault(_fingerprint(old), _Reader(name, _resolving(parse_schema(old), writer.schema,
                                                                                 _chooses_records(old))))

    def _register_reversed_headers(self) -> None:
        """Read messages and changelog rows whose header has the fingerprint's bytes reversed.

        The exchange wrote its headers that way once; Kafka topics and table changelogs keep
        those messages for as long as their retention or compaction allows.
        """
        for key, reader in list(self._readers.items()):
            reversed_key = key[::-1]
            if reversed_key != key and reversed_key in self._readers:
                raise ValueError(f"{reader.name}: reversed fingerprint {key.hex()} is another schema's")
            self._readers[reversed_key] = reader

    def schema(self, name: str) -> dict:
        """The self-contained JSON schema of a record, as written to the wire."""
        return self._writers[name].json

    @property
    def names(self) -> list[str]:
        return sorted(self._writers)

    def header(self, name: str) -> bytes:
        return self._writers[name].header

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        writer = self._writers[name]
        out = bytearray(writer.header)
        writer.write(out, record)
        return bytes(out)

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """The record's full schema name and its fields, read with today's schema."""
        if not isinstance(data, (bytes, bytearray, memoryview)) or data[:2] != MARKER or len(data) < HEADER_SIZE:
            raise DecodeError("not an Avro single-object message (missing C3 01 marker)")
        reader = self._readers.get(bytes(data[2:HEADER_SIZE]))
        if reader is None:
            raise DecodeError(f"unknown schema fingerprint {bytes(data[2:HEADER_SIZE]).hex()}")
        try:
            record, end = reader.read(data, HEADER_SIZE)
        except Exception as exc:  # truncated or corrupt bodies fail in several ways
            raise DecodeError(f"corrupt {reader.name} body: {exc}") from exc
        if end != len(data):
            raise DecodeError(f"{reader.name} body has {len(data) - end} trailing bytes")
        return reader.name, record

    def decode_as(self, name: str, data: bytes) -> dict[str, Any]:
        """Decode, insisting on one record type (a topic carries exactly one)."""
        found, record = self.decode(data)
        if found != name:
            raise DecodeError(f"expected {name}, got {found}")
        return record


codec = Codec()
