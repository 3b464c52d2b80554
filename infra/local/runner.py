"""`exchange infra up | down | status`: the local Kafka and Cassandra, started and stopped as a pair.

Everything a run leaves behind lives in the state directory: each server's data, configuration,
logs and pid file. `up` is idempotent: a server already running from this state directory is left
alone, so running it twice never starts two of anything.
"""

from __future__ import annotations

import fcntl
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from exchange.config import Settings

from .cassandra import CassandraNode
from .kafka import KafkaNode
from .ports import port_taken
from .toolchain import ToolchainError, find_java

START_TIMEOUT_SECONDS = 240.0  # Cassandra's first start on two busy cores can take minutes


Node = KafkaNode | CassandraNode


def nodes(settings: Settings, fast_unsafe: bool = False) -> list[Node]:
    return [KafkaNode(settings), CassandraNode(settings, fast_unsafe=fast_unsafe)]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _state_lock(settings: Settings) -> Iterator[None]:
    """Two `up`s racing on one state directory would otherwise both start servers."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(settings: Settings, fast_unsafe: bool = False) -> None:
    """Start whatever is not running, then wait until both servers answer."""
    with _state_lock(settings):
        servers = nodes(settings, fast_unsafe)
        to_start = []
        for node in servers:
            pid = node.process.pid()
            if pid is not None:
                _say(f"{node.name}: already running (pid {pid}) at {node.address}")
            else:
                to_start.append(node)
        if to_start:
            java = find_java()
            for node in to_start:
                busy = [p for p in node.ports if port_taken("127.0.0.1", p)]
                if busy:
                    raise ToolchainError(
                        f"{node.name}: port(s) {busy} already in use by another program; "
                        "stop it or choose other ports (see the README's configuration table)"
                    )
            for node in to_start:
                node.fetch()  # before the clock starts: a first download is not start-up time
            started = time.monotonic()
            for node in to_start:
                pid = node.start(java)
                _say(f"{node.name}: started (pid {pid}), waiting for it to answer at {node.address}...")
            _wait_until_ready(to_start, started)


def _wait_until_ready(pending: list[Node], started: float) -> None:
    pending = list(pending)
    last_note = started
    while pending:
        for node in list(pending):
            if node.answers():
                _say(f"{node.name}: ready at {node.address} after {time.monotonic() - started:.1f}s")
                pending.remove(node)
            elif not node.process.alive():
                raise ToolchainError(f"{node.name} exited while starting; see {node.log_file}")
        elapsed = time.monotonic() - started
        if pending and elapsed > START_TIMEOUT_SECONDS:
            names = ", ".join(n.name for n in pending)
            raise ToolchainError(f"{names} did not answer within {START_TIMEOUT_SECONDS:.0f}s; see the logs")
        if pending and time.monotonic() - last_note > 15:
            _say(f"still waiting for {', '.join(n.name for n in pending)} ({elapsed:.0f}s)")
            last_note = time.monotonic()
        if pending:
            time.sleep(0.5)


def down(settings: Settings) -> None:
    """Stop exactly the servers that `up` started from this state directory."""
    with _state_lock(settings):
        # Cassandra first: its shutdown is the slow one, Kafka has nothing to wait for.
        for node in reversed(nodes(settings)):
            started = time.monotonic()
            if node.process.stop():
                _say(f"{node.name}: stopped in {time.monotonic() - started:.1f}s")
            else:
                _say(f"{node.name}: not running")


def status(settings: Settings) -> bool:
    """Print each server's state; True only if both answer."""
    healthy = True
    for node in nodes(settings):
        pid = node.process.pid()
        answering = node.answers()
        healthy &= answering
        state = "healthy" if answering else ("running, not answering" if pid else "down")
        owner = f"pid {pid}" if pid else "not started by this state directory"
        print(f"{node.name:<10} {state:<24} {node.address:<22} {owner}")
    print(f"state dir  {settings.state_dir}")
    return healthy
