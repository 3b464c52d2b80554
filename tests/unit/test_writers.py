"""The compiled writers and readers agree with fastavro, byte for byte and record for record."""

from __future__ import annotations

import io

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import codec
from schemas.generated import PRIMITIVES
from schemas.readers import compile_reader
from schemas.writers import compile_writer

LONGS = st.integers(-(2**63), 2**63 - 1)
SIMPLE = {"null": st.none(), "boolean": st.booleans(), "int": st.integers(-(2**31), 2**31 - 1), "long": LONGS,
          "string": st.text(max_size=12), "bytes": st.binary(max_size=12),
          "float": st.floats(width=32, allow_nan=False), "double": st.floats(allow_nan=False)}


def records(schema: dict) -> st.SearchStrategy:
    """Random values of a self-contained schema; a field with a default is sometimes left out."""
    named: dict[str, dict] = {}

    def full_name(node: dict, namespace: str | None) -> str:
        return node["name"] if "." in node["name"] else f"{node.get('namespace', namespace)}.{node['name']}"

    def tagged(values: st.SearchStrategy, name: str) -> st.SearchStrategy:
        return values.map(lambda v: (name, v))

    def of(node, namespace):
        if isinstance(node, str) and node not in PRIMITIVES:
            node = named.get(node) or named[f"{namespace}.{node}"]
        if isinstance(node, list):
            options = [of(branch, namespace) for branch in node]  # defines what later branches name
            resolved = [named.get(b, b) if isinstance(b, str) else b for b in node]
            records_in = [b for b in resolved if isinstance(b, dict) and b["type"] == "record"]
            if len(records_in) > 1:  # fastavro needs the branch named: tuple notation
                options = [tagged(values, full_name(b, namespace)) if b in records_in else values
                           for b, values in zip(resolved, options)]
            return st.one_of(options)
        if isinstance(node, str):
            return SIMPLE[node]
        kind = node["type"]
        if not isinstance(kind, str) or kind in PRIMITIVES:
            return of(kind, namespace)
        if kind == "enum":
            named[full_name(node, namespace)] = node
            return st.sampled_from(node["symbols"])
        if kind == "array":
            return st.lists(of(node["items"], namespace), max_size=3)
        if kind == "map":
            return st.dictionaries(st.text(max_size=6), of(node["values"], namespace), max_size=3)
        full = full_name(node, namespace)
        named[full] = node
        space = full.rpartition(".")[0]
        required = {f["name"]: of(f["type"], space) for f in node["fields"] if "default" not in f}
        optional = {f["name"]: of(f["type"], space) for f in node["fields"] if "default" in f}
        return st.fixed_dictionaries(required, optional=optional)

    return of(schema, schema.get("namespace"))


@pytest.mark.parametrize("name", codec.names)
def test_the_compiled_writer_and_reader_agree_with_fastavro(name):
    schema = codec.schema(name)
    write, read = compile_writer(schema), compile_reader(schema)
    parsed = fastavro.parse_schema(schema)

    @settings(max_examples=60, deadline=None)
    @given(records(schema))
    def same_bytes_and_record(record):
        expected = io.BytesIO()
        fastavro.schemaless_writer(expected, parsed, record)
        out = bytearray()
        write(out, record)
        assert bytes(out) == expected.getvalue()
        data = b"\x00" * 3 + expected.getvalue()  # a body that does not start the message, as on the wire
        read_back = fastavro.schemaless_reader(io.BytesIO(data[3:]), parsed, return_record_name=True,
                                               return_record_name_override=True)
        assert read(data, 3) == (read_back, len(data))

    same_bytes_and_record()


def test_a_union_of_records_needs_the_branch_named():
    write = compile_writer(codec.schema("exchange.Command"))
    command = {"command_id": "c", "account": "a", "ts": 1, "body": {"market": "SOL_USDC"}}
    with pytest.raises(ValueError, match="union branch"):
        write(bytearray(), command)
    out = bytearray()
    write(out, {**command, "body": ("exchange.CancelAll", {"market": "SOL_USDC"})})
    assert codec.decode(codec.header("exchange.Command") + bytes(out))[1]["body"] == (
        "exchange.CancelAll", {"market": "SOL_USDC"})



def test_remembered_encodings_stay_bounded_and_right(monkeypatch):
    from schemas import writers

    monkeypatch.setattr(writers, "MAX_REMEMBERED", 8)
    writers._LONGS.clear()  # earlier tests leave more than 8, and may have met these very values
    writers._STRINGS.clear()
    write = compile_writer(codec.schema("exchange.Hold"))
    parsed = fastavro.parse_schema(codec.schema("exchange.Hold"))
    holds = [{"order_id": 2**40 + i, "market": f"M{i % 11}_USDC", "asset": "USDC", "amount": -i * 10**15,
              "client_order_id": None, "command_offset": i, "settled_seq": 0, "released": False}
             for i in range(30)]
    for hold in holds + holds[::-1]:  # the second pass writes values forgotten in the first
        out, expected = bytearray(), io.BytesIO()
        write(out, hold)
        fastavro.schemaless_writer(expected, parsed, hold)
        assert bytes(out) == expected.getvalue()
        assert len(writers._LONGS) <= 8 and len(writers._STRINGS) <= 8
