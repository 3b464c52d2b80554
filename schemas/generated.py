"""What the writer and reader generators share: walking an expanded schema into Python source.

An expanded schema (codec.expand) defines each named type once, where it is first used; later
uses are its name. A generator turns each record into one function and each other type into
inline code, and compiles the module once, when the codec loads.
"""

from __future__ import annotations

from typing import Any, Callable

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
NAMED = ("record", "enum", "fixed")


class Generator:
    """Subclasses say how each kind of type is written or read; this keeps the bookkeeping."""

    prefix = ""  # of generated function names

    def __init__(self, constants: dict[str, Any]) -> None:
        self.named: dict[str, dict] = {}  # full name -> definition, as met in the schema
        self.functions: dict[str, list[str]] = {}  # record full name -> its function's lines
        self.constants = dict(constants)  # names the generated code uses
        self._counter = 0

    def fresh(self, prefix: str) -> str:
        """A name no other generated variable has."""
        self._counter += 1
        return f"{prefix}{self._counter}"

    def constant(self, prefix: str, value: Any) -> str:
        name = self.fresh(prefix)
        self.constants[name] = value
        return name

    @staticmethod
    def full_name(node: dict, namespace: str | None) -> str:
        name = node["name"]
        if "." in name:
            return name
        space = node.get("namespace", namespace)
        return f"{space}.{name}" if space else name

    def resolve(self, node: Any, namespace: str | None) -> Any:
        """A named type's definition for a reference to it; {"type": X} for a non-named X as X;
        anything else as it is."""
        if isinstance(node, str) and node not in PRIMITIVES:
            return self.named.get(node) or self.named[f"{namespace}.{node}"]
        if isinstance(node, dict) and node["type"] not in NAMED + ("array", "map"):
            return self.resolve(node["type"], namespace)
        return node

    def function_of(self, node: dict, namespace: str | None) -> str:
        """The name of the record's function, generating it the first time."""
        full = self.full_name(node, namespace)
        function = self.prefix + full.replace(".", "_")
        if full not in self.functions:
            self.named[full] = node
            self.functions[full] = []  # reserved before the fields: a field may refer back by name
            self.functions[full] = self.record(node, function, full.rpartition(".")[0] or None)
        return function

    def record(self, node: dict, function: str, namespace: str | None) -> list[str]:
        raise NotImplementedError

    def compile(self, schema: dict, what: str) -> Callable:
        entry = self.function_of(schema, schema.get("namespace"))
        source = "\n\n".join("\n".join(lines) for lines in self.functions.values())
        namespace = dict(self.constants)
        exec(compile(source, f"<avro {what} {schema['name']}>", "exec"), namespace)  # noqa: S102 - our schemas
        return namespace[entry]
