"""Cassandra's write semantics in memory, for checking the recorder's rows without a server.

Tables and primary keys are read from schemas/cql, statements from read_model.STATEMENTS. Each
cell keeps the value with the highest write timestamp (on a tie, the greater value, as Cassandra
does), and a null leaves the cell as it is (the sink binds nulls as unset); a row delete is a
tombstone that hides cells written at or before its timestamp.
"""

from __future__ import annotations

import re

from exchange.db import CQL_DIR, statements
from streams.read_model import STATEMENTS, Write


def _primary_keys() -> dict[str, tuple[str, ...]]:
    keys = {}
    for path in CQL_DIR.glob("*.cql"):
        for statement in statements(path.read_text()):
            created = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", statement)
            if created is None:
                continue  # a table dropped, an index
            table = created.group(1)
            inline = re.search(r"(\w+) \w+ PRIMARY KEY", statement)
            if inline:
                keys[table] = (inline.group(1),)
            else:
                spec = re.search(r"PRIMARY KEY \((.*)\)\s*\)", statement, re.S).group(1)
                keys[table] = tuple(re.findall(r"\w+", spec))
    return keys


def _parse(cql: str) -> tuple[str, str, list[str]]:
    """(kind, table, the columns of the bound values in order, the timestamp as '@ts')."""
    if m := re.match(r"INSERT INTO (\w+) \((.*?)\) VALUES .* USING TIMESTAMP \?", cql):
        return "insert", m.group(1), [c.strip() for c in m.group(2).split(",")] + ["@ts"]
    if m := re.match(r"UPDATE (\w+) USING TIMESTAMP \? SET (.*) WHERE (.*)", cql):
        return "insert", m.group(1), ["@ts", *re.findall(r"(\w+) = \?", m.group(2)),
                                      *re.findall(r"(\w+) = \?", m.group(3))]
    if m := re.match(r"DELETE FROM (\w+) USING TIMESTAMP \? WHERE (.*)", cql):
        return "delete", m.group(1), ["@ts", *re.findall(r"(\w+) = \?", m.group(2))]
    raise ValueError(cql)


class FakeCassandra:
    def __init__(self) -> None:
        self.keys = _primary_keys()
        self.parsed = {name: _parse(cql) for name, cql in STATEMENTS.items()}
        self.cells: dict[tuple, dict[str, tuple[int, object]]] = {}  # (table, key) -> column -> (ts, value)
        self.tombstones: dict[tuple, int] = {}

    def apply(self, writes: list[Write]) -> None:
        for write in writes:
            kind, table, columns = self.parsed[write.statement]
            bound = dict(zip(columns, write.parameters(), strict=True))
            ts = bound.pop("@ts")
            row = (table, tuple(bound[k] for k in self.keys[table]))
            if kind == "delete":
                self.tombstones[row] = max(ts, self.tombstones.get(row, -1))
                continue
            cells = self.cells.setdefault(row, {})
            for column, value in bound.items():
                if column in self.keys[table] or value is None:
                    continue  # a null is bound as unset: the column stays as it is
                old = cells.get(column)
                if old is None or (ts, _order(value)) > (old[0], _order(old[1])):
                    cells[column] = (ts, value)
            cells.setdefault("@row", (ts, None))
            if ts > cells["@row"][0]:
                cells["@row"] = (ts, None)

    def rows(self, table: str) -> dict[tuple, dict]:
        """Live rows of a table: key -> {column: value}."""
        out = {}
        for (name, key), cells in self.cells.items():
            if name != table:
                continue
            dead = self.tombstones.get((name, key), -1)
            live = {c: v for c, (ts, v) in cells.items() if ts > dead and c != "@row"}
            if cells["@row"][0] > dead:
                out[key] = live
        return out


def _order(value) -> tuple:
    return (value is not None, str(value))
