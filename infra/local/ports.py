"""Ports for the servers that tests and benchmarks start: free now, and likely to stay free.

A port the kernel hands out for `bind(port 0)` comes from its ephemeral range, the same range it
draws outgoing connections' source ports from. Between choosing such a port and the server binding
it, any client on the machine (a worker connecting to Kafka, say) can take it as a source port: CI
once saw a recorder's metrics port go that way. So ports are drawn below that range, where the
kernel never assigns one on its own, and never twice from one process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000  # above the well-known and registered ports servers here use by default (9042, 9092)
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = _EPHEMERAL_RANGE.read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def port_taken(host: str, port: int) -> bool:
    """Whether a server could not listen on host:port now (SO_REUSEADDR, as servers bind)."""
    return not _binds(host, port, reuse_address=True)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing uses now on host, outside the ephemeral range, not handed out before."""
    low, high = ephemeral_range()
    if low - LOWEST < 1_000:  # an unusual range leaves no room below it: take the kernel's choice
        return _kernel_port(host)
    for _ in range(200):
        port = random.randrange(LOWEST, low)
        # Without SO_REUSEADDR, a port with connections lingering in TIME_WAIT counts as busy
        # too, so a server that does not set the option can still bind it.
        if port not in _handed_out and _binds(host, port, reuse_address=False):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port between {LOWEST} and {low} after 200 tries")


def _binds(host: str, port: int, reuse_address: bool) -> bool:
    with socket.socket() as sock:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _kernel_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
