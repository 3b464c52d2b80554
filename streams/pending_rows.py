"""A table seen through the rows a batch has decided to write but not written yet."""

from __future__ import annotations

from typing import Any, Callable, Protocol


class Rows(Protocol):
    """What a stage reads rows through: a table, a dict, or a batch's pending view of one."""

    def get(self, key: str, /) -> Any: ...


class PendingRows:
    """A table seen through the rows a batch has decided to write but not written yet.

    Stages decide message by message and read the rows earlier messages of the batch changed;
    the whole batch is then written at once. A row written again moves to the end, so each
    partition's rows keep the order the stage asked for (an account row after its holds).
    """

    _DELETED = object()

    def __init__(self, table, copy_row: Callable[[str, dict], dict]) -> None:
        self.table = table  # anything with get(key, default)
        self.copy_row = copy_row  # (key, row) -> a copy the stage may change
        self.by_partition: dict[int, dict[str, dict | None]] = {}
        self._pending: dict[str, Any] = {}

    def get(self, key: str, default=None):
        value = self._pending.get(key)
        if value is None:
            return self.table.get(key, default)
        if value is self._DELETED:
            return default
        # The stage may change what it reads, and a message that fails must leave the batch's rows
        # as they were. The copy knows the row's shape: copy.deepcopy of an account row took
        # three fifths of a busy worker's time.
        return self.copy_row(key, value)

    def items(self):
        raise TypeError("a pending view is for reading rows by key")

    def stage(self, partition: int, rows: dict[str, dict | None]) -> None:
        ordered = self.by_partition.setdefault(partition, {})
        for key, value in rows.items():
            ordered.pop(key, None)
            ordered[key] = value
            self._pending[key] = self._DELETED if value is None else value
