"""`exchange infra up | down | status`: the local Kafka brokers and Cassandra nodes, started and
stopped together.

Everything a run leaves behind lives in the state directory: each node's data, configuration,
logs and pid file, and the layout (`cluster.json`: how many brokers and nodes) that the other
commands read to find them all. `up` is idempotent: a node already running from this state
directory is left alone, so running it twice never starts two of anything.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

from exchange.config import LAYOUT_FILE, Settings, write_layout

from .cassandra import CassandraNode
from .kafka import KafkaNode, formatted_cluster_id, new_cluster_id
from .ports import port_taken
from .toolchain import ToolchainError, find_java

START_TIMEOUT_SECONDS = 240.0  # Cassandra's first start on two busy cores can take minutes


Node = KafkaNode | CassandraNode


class LayoutError(ToolchainError):
    """The requested layout cannot be had from what the state directory holds."""


def _remembered(settings: Settings) -> dict:
    try:
        return json.loads((settings.state_dir / LAYOUT_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _installed(settings: Settings) -> bool:
    """Whether the state directory holds a single-node install from before layouts were remembered."""
    return any((settings.state_dir / name / "data").exists() for name in ("kafka", "cassandra"))


def plan(settings: Settings, brokers: int | None = None, cassandra_nodes: int | None = None) -> dict:
    """The layout `up` runs: the one asked for, checked against the one the state directory ran.

    A ring's or a cluster's size is fixed once it has data, with one exception: a single broker
    grows, the added brokers joining as brokers only (its one controller stays the only one)."""
    remembered = _remembered(settings)
    if not remembered and _installed(settings):
        remembered = {"kafka_brokers": 1, "kafka_controllers": 1, "cassandra_nodes": 1}
    want_brokers = brokers or settings.kafka_brokers
    want_nodes = cassandra_nodes or settings.cassandra_nodes
    if not remembered:
        layout = {"kafka_brokers": want_brokers, "kafka_controllers": want_brokers, "cassandra_nodes": want_nodes}
    else:
        had_brokers, had_nodes = remembered["kafka_brokers"], remembered["cassandra_nodes"]
        where = f"{settings.state_dir} runs"
        fresh = "use another EXCHANGE_STATE_DIR, or `exchange infra down` and remove that directory to start afresh"
        if want_brokers != had_brokers and not (had_brokers == 1 and want_brokers > 1):
            raise LayoutError(f"{where} {had_brokers} Kafka brokers; it cannot change to {want_brokers} "
                              f"(only a single broker grows); {fresh}")
        if want_nodes != had_nodes:
            raise LayoutError(f"{where} {had_nodes} Cassandra node(s); the local ring's size is fixed once "
                              f"created, so it cannot change to {want_nodes}; {fresh}")
        layout = {**remembered, "kafka_brokers": want_brokers,
                  "kafka_controllers": remembered.get("kafka_controllers", had_brokers)}
    cluster_id = (formatted_cluster_id(settings.state_dir / "kafka" / "data") or remembered.get("kafka_cluster_id")
                  or new_cluster_id())
    return layout | {"kafka_cluster_id": cluster_id}


def nodes(settings: Settings, fast_unsafe: bool = False) -> list[Node]:
    """Every node of the layout: the brokers, then the Cassandra nodes in their start order."""
    layout = _remembered(settings)
    controllers = min(layout.get("kafka_controllers", settings.kafka_brokers), settings.kafka_brokers)
    cluster_id = layout.get("kafka_cluster_id", "")
    kafka: list[Node] = [KafkaNode(settings, i, controllers, cluster_id) for i in range(settings.kafka_brokers)]
    cassandra: list[Node] = [CassandraNode(settings, fast_unsafe, i) for i in range(settings.cassandra_nodes)]
    return kafka + cassandra


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _state_lock(settings: Settings) -> Iterator[None]:
    """Two `up`s racing on one state directory would otherwise both start servers."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(settings: Settings, fast_unsafe: bool = False, brokers: int | None = None,
       cassandra_nodes: int | None = None) -> Settings:
    """Start whatever is not running, then wait until every node answers. Returns the settings of
    the layout started (the brokers and nodes remembered in the state directory)."""
    with _state_lock(settings):
        layout = plan(settings, brokers, cassandra_nodes)
        grows = layout["kafka_brokers"] > _remembered(settings).get("kafka_brokers", layout["kafka_brokers"])
        write_layout(settings.state_dir, layout)
        settings = dataclasses.replace(settings, kafka_brokers=layout["kafka_brokers"],
                                       cassandra_nodes=layout["cassandra_nodes"])
        servers = nodes(settings, fast_unsafe)
        if grows and servers[0].process.pid() is not None:
            # The first broker takes the cluster's settings (replication of internal topics) at a restart.
            _say(f"{servers[0].name}: restarting with the settings of {layout['kafka_brokers']} brokers")
            servers[0].process.stop()
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
                busy = [f"{host}:{port}" for host, port in node.ports if port_taken(host, port)]
                if busy:
                    raise ToolchainError(
                        f"{node.name}: {', '.join(busy)} already in use by another program; "
                        "stop it or choose other ports (see the README's configuration table)"
                    )
            for node in to_start:
                node.fetch()  # before the clock starts: a first download is not start-up time
            _start_and_wait(java, servers, to_start)
    return settings


def _start_and_wait(java, servers: list[Node], to_start: list[Node]) -> None:
    """Brokers all at once (a quorum forms once most are up); Cassandra nodes one at a time, each
    once the node before it answers, so that each joins a ring that is already there."""
    before: dict[int, Node | None] = {}
    previous = None
    for node in servers:
        if isinstance(node, CassandraNode):
            before[id(node)] = previous
            previous = node
    started = time.monotonic()
    others = [n for n in servers if n not in to_start]
    ready: set[int] = {id(n) for n in others if n.answers()}
    pending = [n for n in others if id(n) not in ready]  # running, not answering yet
    since = {id(n): started for n in pending}
    waiting = list(to_start)
    while waiting or pending:
        for node in list(waiting):
            after = before.get(id(node))
            if after is None or id(after) in ready:
                pid = node.start(java)
                _say(f"{node.name}: started (pid {pid}), waiting for it to answer at {node.address}...")
                waiting.remove(node)
                pending.append(node)
                since[id(node)] = time.monotonic()
        _wait_for_one(pending, since, started, ready)


def _wait_for_one(pending: list[Node], since: dict[int, float], started: float, ready: set[int]) -> None:
    """Until at least one pending node answers (moved to `ready`); a node gets START_TIMEOUT_SECONDS."""
    last_note = time.monotonic()
    while pending:
        answered = False
        for node in list(pending):
            if node.answers():
                _say(f"{node.name}: ready at {node.address} after {time.monotonic() - started:.1f}s")
                pending.remove(node)
                ready.add(id(node))
                answered = True
            elif not node.process.alive():
                raise ToolchainError(f"{node.name} exited while starting; see {node.log_file}")
        if answered:
            return
        now = time.monotonic()
        late = [n.name for n in pending if now - since[id(n)] > START_TIMEOUT_SECONDS]
        if late:
            raise ToolchainError(f"{', '.join(late)} did not answer within {START_TIMEOUT_SECONDS:.0f}s; see the logs")
        if now - last_note > 15:
            _say(f"still waiting for {', '.join(n.name for n in pending)} ({now - started:.0f}s)")
            last_note = now
        time.sleep(0.5)


def _stop(node: Node) -> None:
    started = time.monotonic()
    if node.process.stop():
        _say(f"{node.name}: stopped in {time.monotonic() - started:.1f}s")
    else:
        _say(f"{node.name}: not running")


def down(settings: Settings) -> None:
    """Stop exactly the nodes that `up` started from this state directory: the Cassandra nodes
    first, then the brokers (each group together: each node shuts down on its own)."""
    with _state_lock(settings):
        servers = nodes(settings)
        with ThreadPoolExecutor(max_workers=len(servers)) as pool:
            list(pool.map(_stop, [n for n in servers if isinstance(n, CassandraNode)]))
            # Brokers together too: one by one, the last controller waits for a quorum that is gone
            # and only stops when killed.
            list(pool.map(_stop, [n for n in servers if isinstance(n, KafkaNode)]))


def status(settings: Settings) -> bool:
    """Print each node's state; True only if every one answers."""
    healthy = True
    for node in nodes(settings):
        pid = node.process.pid()
        answering = node.answers()
        healthy &= answering
        state = "healthy" if answering else ("running, not answering" if pid else "down")
        owner = f"pid {pid}" if pid else "not started by this state directory"
        print(f"{node.name:<12} {state:<24} {node.address:<22} {owner}")
    print(f"state dir    {settings.state_dir}")
    return healthy
