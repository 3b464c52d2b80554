"""`exchange logs`: every process's log lines as one stream in time order, filtered by the ids
they carry, so one order's, trade's or account's trail reads across the API, the workers, the
recorder and the hub (the JSON lines of logs.py; `exchange up` writes one file per process).

Each file is already in time order, so the files are merged, not sorted: a heap of one head
line per file. A line that is not JSON (a traceback Python printed itself, a library's own
text) belongs to the JSON line before it in its file, and goes where that line goes.
"""

from __future__ import annotations

import heapq
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, TextIO

import orjson

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
# Which fields an id filter looks in: an order's trail includes the trades it made.
ID_FIELDS = {"order": ("order_id", "maker_order_id", "taker_order_id"), "trade": ("trade_id",),
             "account": ("account",), "market": ("market",), "command": ("command_id",)}
SHOWN = ("order_id", "client_order_id", "trade_id", "account", "market", "status", "reason", "command_id",
         "topic", "partition", "offset")


@dataclass
class Entry:
    """One JSON line (or, before the first one, None) with the lines that followed it."""

    ts: str  # ISO 8601 in UTC, so text order is time order
    record: dict | None
    lines: list[str] = field(default_factory=list)
    continued: bool = False  # more lines of an entry already shown (when following)


@dataclass
class Filter:
    ids: dict[str, str] = field(default_factory=dict)  # kind (order, trade, ...) -> id as text
    level: str = "debug"
    since: str = ""  # the earliest ts shown

    def admits(self, entry: Entry) -> bool:
        record = entry.record
        if record is None:
            return not self.ids and not self.since and self.level == "debug"
        if entry.ts < self.since or LEVELS.get(record.get("level"), 0) < LEVELS[self.level]:
            return False
        return all(any(str(record.get(name)) == wanted for name in ID_FIELDS[kind])
                   for kind, wanted in self.ids.items())


class LogFile:
    """A log file read as entries, from its start and then as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: TextIO = open(path, encoding="utf-8", errors="replace")
        self.partial = ""  # a line still being written
        self.last: Entry | None = None  # held back until the next JSON line: more may belong to it
        self.shown: Entry | None = None  # the last one handed out

    def read(self, final: bool = False) -> list[Entry]:
        """The entries completed since the last read; `final`: the held-back last one too."""
        done: list[Entry] = []
        chunk = self.partial + self.handle.read()
        lines = chunk.split("\n")
        self.partial = lines.pop()
        for line in lines:
            record = _json(line)
            if record is not None:
                if self.last is not None:
                    done.append(self.last)
                self.last = Entry(record["ts"], record, [line])
            elif self.last is not None:
                self.last.lines.append(line)
            elif self.shown is not None:
                self.last = Entry(self.shown.ts, self.shown.record, [line], continued=True)
            else:
                self.last = Entry("", None, [line])
        if final and self.last is not None:
            done.append(self.last)
            self.last = None
        if done:
            self.shown = done[-1]
        return done

    def close(self) -> None:
        self.handle.close()


def _json(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("ts"), str) else None


def merged(files: Iterable[LogFile]) -> Iterator[Entry]:
    """Every entry of the files, in time order (a file's own order kept on equal times)."""
    return heapq.merge(*(file.read(final=True) for file in files), key=lambda entry: entry.ts)


def since(spec: str, now: datetime | None = None) -> str:
    """`10m`, `2h`, `1d` ago, or an ISO time, as the ts text it is compared with."""
    match = re.fullmatch(r"(\d+)([smhd])", spec)
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
        moment = (now or datetime.now(timezone.utc)) - timedelta(**{unit: int(match[1])})
    else:
        moment = datetime.fromisoformat(spec.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def render(entry: Entry, as_json: bool) -> str:
    if as_json or entry.record is None:
        return "\n".join(entry.lines)
    if entry.continued:
        return "\n".join(f"    {line}" for line in entry.lines)
    record = entry.record
    ids = " ".join(f"{name}={record[name]}" for name in SHOWN if record.get(name) is not None)
    head = f"{entry.ts} {record.get('level', '?'):<7} {record.get('process', '?'):<14} {record.get('message', '')}"
    rest = [*entry.lines[1:], *str(record.get("exception", "")).splitlines()]
    return "\n".join([f"{head}  {ids}" if ids else head, *(f"    {line}" for line in rest)])


def show(directory: Path, wanted: Filter, as_json: bool = False, follow: bool = False,
         out=print, poll_s: float = 0.5) -> int:
    """Print the matching entries of every `*.log` in `directory`; with `follow`, then new ones
    as they are written, until interrupted. Returns how many were printed."""
    files: dict[Path, LogFile] = {}
    shown = 0
    try:
        while True:
            for path in sorted(directory.glob("*.log")):
                files.setdefault(path, LogFile(path))  # when following: a process started since
            for entry in merged(files.values()):  # everything at first, then what was written since
                if wanted.admits(entry):
                    out(render(entry, as_json))
                    shown += 1
            if not follow:
                break
            time.sleep(poll_s)
    finally:
        for file in files.values():
            file.close()
    return shown
