"""Avro binary readers compiled from the schemas: one generated Python function per record type.

The reading twin of writers.py. fastavro's reader interprets the schema at every value; a
generated function reads each field in place, with the common one-byte integers (small numbers,
lengths, enum and union indexes) read inline, about 1.5 times faster. Used when a message was
written with today's schema; older versions go through fastavro, which resolves them.

A union with several records reads as `(record name, value)`, so a command's body says what it
is; any other union reads as its plain value (what codec.decode has always returned). Bytes
that do not fit the schema raise ValueError, IndexError or UnicodeDecodeError; the codec turns
them into DecodeError.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from .generated import Generator

Reader = Callable[[bytes, int], tuple[dict, int]]


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    pos += 1
    n, shift = byte & 0x7F, 7
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if shift > 70:
            raise ValueError("a varint longer than 10 bytes")
    return (n >> 1) ^ -(n & 1), pos


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    n, pos = read_long(data, pos)
    if n < 0 or pos + n > len(data):
        raise ValueError(f"a length of {n} at byte {pos} of {len(data)}")
    return n, pos


def corrupt(what: str, pos: int) -> Any:
    raise ValueError(f"{what} at byte {pos}")


class _Readers(Generator):
    prefix = "r_"

    def record(self, node: dict, function: str, namespace: str | None) -> list[str]:
        lines, fields = [f"def {function}(data, pos):"], []
        for field in node["fields"]:
            target = self.fresh("f")
            lines += self.value(field["type"], target, namespace, "    ")
            fields.append(f"{field['name']!r}: {target}")
        lines.append(f"    return {{{', '.join(fields)}}}, pos")
        return lines

    def value(self, node: Any, target: str, namespace: str | None, indent: str) -> list[str]:
        """Lines reading one value of `node` at `pos` into the variable `target`, moving `pos`."""
        node = self.resolve(node, namespace)
        if isinstance(node, list):
            return self.union(node, target, namespace, indent)
        kind = node if isinstance(node, str) else node["type"]
        if kind == "null":
            return [f"{indent}{target} = None"]
        if kind == "boolean":
            return [f"{indent}{target} = data[pos] == 1", f"{indent}pos += 1"]
        if kind in ("int", "long"):
            return self.small(target, indent)
        if kind in ("string", "bytes"):
            n = self.fresh("n")
            lines = [f"{indent}{n} = data[pos]",
                     f"{indent}if {n} < 0x80 and not {n} & 1:",  # a short length, read inline
                     f"{indent}    {n} >>= 1", f"{indent}    pos += 1",
                     f"{indent}else:", f"{indent}    {n}, pos = read_length(data, pos)"]
            value = f"str(data[pos:pos + {n}], 'utf-8')" if kind == "string" else f"bytes(data[pos:pos + {n}])"
            return [*lines, f"{indent}{target} = {value}", f"{indent}pos += {n}"]
        if kind in ("float", "double"):
            size, code = (4, "<f") if kind == "float" else (8, "<d")
            return [f"{indent}{target} = unpack_from({code!r}, data, pos)[0]", f"{indent}pos += {size}"]
        if kind == "enum":
            if len(node["symbols"]) > 63:
                raise ValueError("enums of more than 63 symbols are not supported")
            self.named[self.full_name(node, namespace)] = node
            symbols = {2 * i: symbol for i, symbol in enumerate(node["symbols"])}  # zigzag, one byte each
            return [f"{indent}{target} = {self.constant('ENUM', symbols)}[data[pos]]", f"{indent}pos += 1"]
        if kind == "record":
            return [f"{indent}{target}, pos = {self.function_of(node, namespace)}(data, pos)"]
        if kind in ("array", "map"):
            return self.collection(node, target, namespace, indent)
        raise ValueError(f"unsupported Avro type {kind!r}")

    def small(self, target: str, indent: str) -> list[str]:
        """A long, with one-byte values read inline."""
        byte = self.fresh("b")
        return [f"{indent}{byte} = data[pos]", f"{indent}if {byte} < 0x80:",
                f"{indent}    {target} = ({byte} >> 1) ^ -({byte} & 1)", f"{indent}    pos += 1",
                f"{indent}else:", f"{indent}    {target}, pos = read_long(data, pos)"]

    def collection(self, node: dict, target: str, namespace: str | None, indent: str) -> list[str]:
        """Blocks of items until an empty one; a negative count is followed by the block's size."""
        count, item = self.fresh("count"), self.fresh("item")
        is_map = node["type"] == "map"
        lines = [f"{indent}{target} = {'{}' if is_map else '[]'}", f"{indent}while True:",
                 *self.small(count, indent + "    "),
                 f"{indent}    if {count} == 0:", f"{indent}        break",
                 f"{indent}    if {count} < 0:", f"{indent}        {count} = -{count}",
                 f"{indent}        _, pos = read_long(data, pos)",
                 f"{indent}    for _ in range({count}):"]
        inner = indent + "        "
        if is_map:
            key = self.fresh("key")
            lines += self.value("string", key, namespace, inner)
            lines += self.value(node["values"], item, namespace, inner)
            lines.append(f"{inner}{target}[{key}] = {item}")
        else:
            lines += self.value(node["items"], item, namespace, inner)
            lines.append(f"{inner}{target}.append({item})")
        return lines

    def union(self, branches: list, target: str, namespace: str | None, indent: str) -> list[str]:
        resolved = [self.resolve(b, namespace) for b in branches]
        records = [b for b in resolved if isinstance(b, dict) and b["type"] == "record"]
        index = self.fresh("u")
        lines = [f"{indent}{index} = data[pos]", f"{indent}pos += 1"]
        for number, branch in enumerate(branches):
            lines.append(f"{indent}{'if' if number == 0 else 'elif'} {index} == {2 * number}:")
            lines += self.value(branch, target, namespace, indent + "    ")
            if len(records) > 1 and resolved[number] in records:
                name = self.full_name(resolved[number], namespace)
                lines.append(f"{indent}    {target} = ({name!r}, {target})")
        lines += [f"{indent}else:", f"{indent}    corrupt('a union index out of range', pos)"]
        return lines


def compile_reader(schema: dict) -> Reader:
    """A function reading a record of this (expanded, self-contained) schema: (data, position of
    the body) -> (record, position after it)."""
    constants = {"read_long": read_long, "read_length": read_length, "corrupt": corrupt,
                 "unpack_from": struct.unpack_from}
    return _Readers(constants).compile(schema, "reader")
