"""Avro binary writers compiled from the schemas: one generated Python function per record type.

fastavro's writer interprets the schema at every value: it looks the type up, and for a union
that holds a named type it validates the value against each branch in turn (a whole record, for
a book row's order). That is about 0.4 µs a field and 10 µs an order update, and half of what the
matching worker spent on Avro. A function generated once per record writes each field with one
direct call, about three times faster, and writes the same bytes (a property test compares them
with fastavro's on random records of every type).

What the generated code accepts is what fastavro accepts from this code base: dicts for records
(a missing field takes its default), `(type name, value)` tuples to choose a union branch, plain
values otherwise. It does not validate: a value of the wrong type raises whatever Python raises.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from .generated import NAMED, Generator

Writer = Callable[[bytearray, Any], None]



def write_long(out: bytearray, n: int) -> None:
    n = (n << 1) ^ (n >> 63)  # zigzag: small magnitudes of either sign take few bytes
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def write_string(out: bytearray, text: str) -> None:
    data = text.encode()
    write_long(out, len(data))
    out += data


# The same numbers and strings are written again and again: an order's id and a batch's
# timestamp in every row and event about it, market and account names everywhere. Appending
# their remembered encoding costs a dict lookup instead of a loop over 7-bit groups (about half
# the time over the values the order flow writes). Bounded: past the limit all are forgotten.
MAX_REMEMBERED = 50_000
_LONGS: dict[int, bytes] = {}
_STRINGS: dict[str, bytes] = {}


def _remembering(cache: dict, write: Callable[[bytearray, Any], None]) -> Callable[[Any], bytes]:
    """A function returning a value's encoding, computed and remembered (the generated code looks
    in `cache` first and calls it only when the value is not there)."""

    def encoding(value) -> bytes:
        out = bytearray()
        write(out, value)
        if len(cache) >= MAX_REMEMBERED:
            cache.clear()
        encoded = cache[value] = bytes(out)
        return encoded

    return encoding


long_bytes = _remembering(_LONGS, write_long)
string_bytes = _remembering(_STRINGS, write_string)


def write_bytes(out: bytearray, data: bytes) -> None:
    write_long(out, len(data))
    out += data


def write_float(out: bytearray, value: float) -> None:
    out += struct.pack("<f", value)


def write_double(out: bytearray, value: float) -> None:
    out += struct.pack("<d", value)


class _Writers(Generator):
    prefix = "w_"

    def record(self, node: dict, function: str, namespace: str | None) -> list[str]:
        lines = [f"def {function}(out, d):"]
        for field in node["fields"]:
            if "default" in field:
                value = f"d.get({field['name']!r}, {self.constant('DEFAULT', field['default'])})"
            else:
                value = f"d[{field['name']!r}]"
            lines += self.value(field["type"], value, namespace, "    ")
        return lines if len(lines) > 1 else [*lines, "    pass"]

    def enum(self, node: dict, namespace: str | None) -> str:
        """The constant mapping each symbol to its encoded index (made once per enum)."""
        full = self.full_name(node, namespace)
        self.named[full] = node
        table = f"ENUM_{full.replace('.', '_')}"
        self.constants.setdefault(table, {symbol: _long_bytes(i) for i, symbol in enumerate(node["symbols"])})
        return table

    def value(self, node: Any, expr: str, namespace: str | None, indent: str) -> list[str]:
        """Lines writing `expr` (evaluated once) as `node`."""
        node = self.resolve(node, namespace)
        if isinstance(node, list):
            return self.union(node, expr, namespace, indent)
        kind = node if isinstance(node, str) else node["type"]
        if kind == "null":
            return []
        if kind == "boolean":
            return [f"{indent}out.append(1 if {expr} else 0)"]
        if kind in ("int", "long"):  # an encoding is never empty, so `or` means not remembered
            return [f"{indent}out += LONG({expr}) or long_bytes({expr})"]
        if kind == "string":
            return [f"{indent}out += STRING({expr}) or string_bytes({expr})"]
        if kind in ("bytes", "float", "double"):
            return [f"{indent}write_{kind}(out, {expr})"]
        if kind == "enum":
            return [f"{indent}out += {self.enum(node, namespace)}[{expr}]"]
        if kind == "record":
            return [f"{indent}{self.function_of(node, namespace)}(out, {expr})"]
        if kind in ("array", "map"):
            return self.collection(node, expr, namespace, indent)
        raise ValueError(f"unsupported Avro type {kind!r}")

    def collection(self, node: dict, expr: str, namespace: str | None, indent: str) -> list[str]:
        """One block holding every item, then the empty block that ends it (as fastavro writes)."""
        items, item = self.fresh("items"), self.fresh("item")
        lines = [f"{indent}{items} = {expr}", f"{indent}if {items}:",
                 f"{indent}    out += LONG(len({items})) or long_bytes(len({items}))"]
        if node["type"] == "array":
            lines.append(f"{indent}    for {item} in {items}:")
            lines += self.value(node["items"], item, namespace, indent + "        ")
        else:
            key = self.fresh("key")
            lines.append(f"{indent}    for {key}, {item} in {items}.items():")
            lines.append(f"{indent}        out += STRING({key}) or string_bytes({key})")
            lines += self.value(node["values"], item, namespace, indent + "        ")
        lines.append(f"{indent}out.append(0)")
        return lines

    def union(self, branches: list, expr: str, namespace: str | None, indent: str) -> list[str]:
        value, branch = self.fresh("v"), self.fresh("branch")
        resolved = [self.resolve(b, namespace) for b in branches]
        if len(branches) == 2 and branches[0] == "null":  # the optional value: most unions here
            return [f"{indent}{value} = {expr}", f"{indent}if {value} is None:", f"{indent}    out.append(0)",
                    f"{indent}else:", f"{indent}    out.append(2)",
                    *self.value(branches[1], value, namespace, indent + "    ")]
        lines = [f"{indent}{value} = {expr}"]
        names = {self.full_name(b, namespace): index for index, b in enumerate(resolved)
                 if isinstance(b, dict) and b.get("type") in NAMED}
        if names:  # `(name, value)` chooses a named branch, as fastavro's tuple notation does
            lines += [f"{indent}if type({value}) is tuple:",
                      f"{indent}    {branch}, {value} = {self.constant('BRANCH', names)}[{value}[0]], {value}[1]",
                      f"{indent}else:", f"{indent}    {branch} = {self._guess(resolved, value)}"]
        else:
            lines.append(f"{indent}{branch} = {self._guess(resolved, value)}")
        for index, node in enumerate(branches):
            lines.append(f"{indent}{'if' if index == 0 else 'elif'} {branch} == {index}:")
            lines.append(f"{indent}    out += {_long_bytes(index)!r}")
            lines += self.value(node, value, namespace, indent + "    ")
        return lines

    @staticmethod
    def _guess(branches: list, value: str) -> str:
        """The branch a plain value belongs to, by its Python type; several candidates is an error
        (a union of two records needs a tuple)."""
        checks = {"null": f"{value} is None", "boolean": f"type({value}) is bool",
                  "int": f"type({value}) is int", "long": f"type({value}) is int",
                  "float": f"type({value}) is float", "double": f"type({value}) is float",
                  "string": f"type({value}) is str", "bytes": f"isinstance({value}, (bytes, bytearray))",
                  "enum": f"type({value}) is str", "record": f"isinstance({value}, dict)",
                  "map": f"isinstance({value}, dict)", "array": f"isinstance({value}, list)"}
        kinds = [b if isinstance(b, str) else b["type"] for b in branches]
        ambiguous = {k for k in kinds if kinds.count(k) > 1
                     or (k in ("record", "map") and {"record", "map"} <= set(kinds))
                     or (k in ("string", "enum") and {"string", "enum"} <= set(kinds))}
        parts = [f"{index} if {checks[kind]} else " for index, kind in enumerate(kinds) if kind not in ambiguous]
        return "".join(parts) + f"_ambiguous({value})"


def _long_bytes(n: int) -> bytes:
    out = bytearray()
    write_long(out, n)
    return bytes(out)


def _ambiguous(value: Any) -> int:
    raise ValueError(f"cannot tell which union branch {value!r:.80} belongs to; pass (type name, value)")


def compile_writer(schema: dict) -> Writer:
    """A function writing a record of this (expanded, self-contained) schema into a bytearray."""
    constants = {"LONG": _LONGS.get, "long_bytes": long_bytes, "STRING": _STRINGS.get, "string_bytes": string_bytes,
                 "write_long": write_long, "write_string": write_string, "write_bytes": write_bytes,
                 "write_float": write_float, "write_double": write_double, "_ambiguous": _ambiguous}
    return _Writers(constants).compile(schema, "writer")
