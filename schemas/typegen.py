"""Writes schemas/records.py: a TypedDict per Avro record, a Literal per enum, from schemas/avro.

The codec hands out records as plain dicts (its compiled readers make them); these types give
the dicts their field names and value types for readers and for mypy, which `make lint` runs
over the pure modules. A field with a default is NotRequired: the codec writes the default for
it when it is missing, and always reads it. A union with more than one record branch decodes to a pair
(record name, record), as the codec reads it.

`make records` (python -m schemas.typegen) rewrites the module after a schema changes; a unit
test fails while it is out of date.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

AVRO_DIR = Path(__file__).parent / "avro"
OUTPUT = Path(__file__).parent / "records.py"
PRIMITIVE = {
    "null": "None",
    "boolean": "bool",
    "int": "int",
    "long": "int",
    "float": "float",
    "double": "float",
    "bytes": "bytes",
    "string": "str",
}


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _type(node: Any, kinds: dict[str, str]) -> str:
    if isinstance(node, str):
        return PRIMITIVE.get(node) or _short(node)
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        records = [b for b in branches if kinds.get(b if isinstance(b, str) else b.get("name")) == "record"]
        if len(records) > 1:
            chosen = f"tuple[str, {' | '.join(_type(b, kinds) for b in records)}]"
            rest = [_type(b, kinds) for b in branches if b not in records]
            inner = " | ".join([chosen, *rest])
        else:
            inner = " | ".join(_type(b, kinds) for b in branches)
        return f"{inner} | None" if "null" in node else inner
    kind = node["type"]
    if kind == "array":
        return f"list[{_type(node['items'], kinds)}]"
    if kind == "map":
        return f"dict[str, {_type(node['values'], kinds)}]"
    if kind in ("record", "enum"):
        return node["name"]  # defined where it is first used; emitted on its own (see _named)
    return _type(kind, kinds)


def _named(node: Any, found: dict[str, dict]) -> None:
    """Every record and enum defined in this schema, the outer before the inner."""
    if isinstance(node, list):
        for branch in node:
            _named(branch, found)
    elif isinstance(node, dict):
        kind = node["type"]
        if kind in ("record", "enum"):
            found.setdefault(node["name"], node)
            for field in node.get("fields", ()):
                _named(field["type"], found)
        elif kind == "array":
            _named(node["items"], found)
        elif kind == "map":
            _named(node["values"], found)
        elif isinstance(kind, (dict, list)):
            _named(kind, found)


def generate(avro_dir: Path = AVRO_DIR) -> str:
    found: dict[str, dict] = {}
    for path in sorted(avro_dir.glob("*.avsc")):
        _named(json.loads(path.read_text()), found)
    schemas = [found[name] for name in sorted(found)]
    kinds = {f"exchange.{name}": schema["type"] for name, schema in found.items()}
    kinds.update({name: schema["type"] for name, schema in found.items()})
    lines = [
        '"""The records on the exchange\'s topics and in its tables, as the codec decodes them.',
        "",
        "Generated from schemas/avro by schemas/typegen.py (`make records`); do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Literal, NotRequired, TypedDict",
    ]
    for schema in schemas:
        name = schema["name"]
        lines.extend(["", ""])
        if schema["type"] == "enum":
            symbols = ", ".join(json.dumps(symbol) for symbol in schema["symbols"])
            lines.append(f"{name} = Literal[{symbols}]")
            continue
        lines.append(f"class {name}(TypedDict):")
        if schema.get("doc"):
            lines.extend(_docstring(schema["doc"]))
            lines.append("")
        for field in schema["fields"]:
            # The codec writes a missing field's default, and reads every field.
            kind = _type(field["type"], kinds)
            lines.append(f"    {field['name']}: {f'NotRequired[{kind}]' if 'default' in field else kind}")
    return "\n".join(lines) + "\n"


def _docstring(doc: str) -> list[str]:
    lines = textwrap.wrap(doc.replace("\\", "\\\\").replace('"', '\\"'), width=100)
    lines[0] = '"""' + lines[0]
    lines[-1] += '"""'
    return [f"    {line}" for line in lines]


def main() -> int:
    OUTPUT.write_text(generate())
    print(f"wrote {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
