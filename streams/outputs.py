"""What a stage sends after processing one input message: records bound for topics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.topics import Topic


@dataclass(frozen=True)
class Outgoing:
    topic: Topic
    key: str
    record: dict[str, Any]
    partition: int


@dataclass
class StageResult:
    """Rows to write to the stage's table, and messages to send, for one input message."""

    rows: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None deletes the row
    messages: list[Outgoing] = field(default_factory=list)
