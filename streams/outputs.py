"""What a stage makes: records bound for topics, rows for its table, and the order they land in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from schemas.topics import Topic


@dataclass(frozen=True)
class Outgoing:
    topic: Topic
    key: str
    record: Mapping[str, Any]  # a record of the topic's type (schemas/records.py)
    partition: int


@dataclass
class StageResult:
    """Rows to write to the stage's table, and messages to send, for one input message."""

    rows: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None deletes the row
    messages: list[Outgoing] = field(default_factory=list)


# The order a batch's effects are made durable in (see batch.py for why each stage has its own).
ROWS_FIRST = "rows first"
OUTPUTS_FIRST = "outputs first"


@dataclass
class Decided:
    """What a batch made: rows to write and messages to send, in the order they must land."""

    rows: Any = field(default_factory=dict)  # the stage's own shape; the batch's Durable adapter knows it
    messages: list[Outgoing] = field(default_factory=list)
