"""What the REST benchmark needs beside the exchange: a cheap HTTP load client and CPU accounting.

The load client speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) for POSTing
orders. httpx spent about 9 ms of CPU per request here, so on a 2-core machine the benchmark's
own client was the largest consumer and capped the figure at about 45 orders/s; this one costs
a few tens of microseconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it go one at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}",
                "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length, closing = 0, False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                closing = True
        payload = await self._reader.readexactly(length)
        if closing:
            await self.close()
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@dataclass
class CpuSample:
    """CPU seconds used so far by each watched process, and by the whole machine."""

    at: float
    processes: dict[str, float]
    busy: float
    total: float


def cpu_sample(pids: dict[str, int]) -> CpuSample:
    ticks = os.sysconf("SC_CLK_TCK")
    processes = {}
    for name, pid in pids.items():
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            processes[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        except (FileNotFoundError, IndexError):
            processes[name] = 0.0
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return CpuSample(time.monotonic(), processes, (sum(values) - idle) / ticks, sum(values) / ticks)


def cpu_report(before: CpuSample, after: CpuSample) -> str:
    """Each process's share of one core over the interval, and how busy the machine was."""
    seconds = after.at - before.at
    shares = ", ".join(f"{name} {(after.processes[name] - before.processes[name]) / seconds:.0%}"
                       for name in after.processes)
    machine = (after.busy - before.busy) / max(after.total - before.total, 1e-9)
    return f"{shares} of a core; whole machine {machine:.0%} busy ({os.cpu_count()} cores)"
