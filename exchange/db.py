"""Opening a Cassandra cluster connection the same way in every process, and the schema migration."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.connection import ConnectionException
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    LoadBalancingPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)

from exchange.config import Settings, replication_options

CQL_DIR = Path(__file__).resolve().parent.parent / "schemas" / "cql"
# The one partition of recorded_positions (schemas/cql/009): the recorder writes it, fresh reads read it.
RECORDER = "recorder"
# The data centre of every node of a ring whose nodes use SimpleSnitch, as the local runner's do.
LOCAL_DC = "datacenter1"

log = logging.getLogger("exchange.db")


def cluster(settings: Settings, timeout: float = 10.0, only_host: str | None = None) -> Cluster:
    """A driver Cluster for the configured contact points, every statement at CASSANDRA_CONSISTENCY
    (LWTs' Paxos round at CASSANDRA_SERIAL_CONSISTENCY): the one place consistency is set.

    `only_host` sends every query to that one node (the local runner's readiness check)."""
    # The local ring (loopback addresses) runs SimpleSnitch, whose one data centre is datacenter1;
    # naming it spares the driver's warning. Elsewhere the driver takes the contact point's.
    local_dc = LOCAL_DC if all(host.startswith("127.") for host in settings.cassandra_hosts) else None
    policy: LoadBalancingPolicy = (WhiteListRoundRobinPolicy([only_host]) if only_host
                                   # Token awareness sends each query straight to a replica of its partition.
                                   else TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)))
    profile = ExecutionProfile(
        load_balancing_policy=policy, request_timeout=timeout,
        consistency_level=ConsistencyLevel.name_to_value[settings.cassandra_consistency],
        serial_consistency_level=ConsistencyLevel.name_to_value[settings.cassandra_serial_consistency],
    )
    return Cluster(
        [only_host] if only_host else settings.cassandra_hosts, port=settings.cassandra_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=timeout, control_connection_timeout=timeout,
        protocol_version=5,  # Cassandra 4 and later; saves the driver its downgrade dance
        # The default waits up to ten minutes between attempts; a node back after a restart
        # should be used again within seconds.
        reconnection_policy=ExponentialReconnectionPolicy(0.5, 5.0),
    )


def wait(response_future) -> "asyncio.Future":
    """An asyncio future for a driver ResponseFuture (whose callbacks run on the driver's thread);
    it resolves to the first page of rows."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def done(result) -> None:
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(result))

    def failed(exc) -> None:
        loop.call_soon_threadsafe(lambda: future.done() or future.set_exception(exc))

    response_future.add_callbacks(done, failed)
    return future


def statements(cql: str) -> list[str]:
    """The statements of a .cql file: `--` comments removed, split on semicolons."""
    text = re.sub(r"--[^\n]*", "", cql)
    return [s.strip() for s in text.split(";") if s.strip()]


_TABLE = re.compile(r"\b(FROM|INTO|UPDATE)\s+(\w+)(?!\.)\b", re.IGNORECASE)
_DDL_TABLE = re.compile(r"^\s*((?:CREATE|ALTER|DROP)\s+TABLE(?:\s+IF(?:\s+NOT)?\s+EXISTS)?)\s+(?!IF\s)(\w+)(?![.\w])",
                        re.IGNORECASE)


def qualified(cql: str, keyspace: str) -> str:
    """The statement with its table named with the keyspace, for preparing. A statement prepared
    on a connection that relies on `USE` would mean whichever keyspace the connection is in, and
    Cassandra 5 warns of it at every start."""
    return _TABLE.sub(lambda m: f"{m[1]} {keyspace}.{m[2]}", cql)


def qualified_ddl(cql: str, keyspace: str) -> str:
    """A schema file's CREATE, ALTER or DROP TABLE with its table named with the keyspace: on a
    ring, a pooled connection opened while another process was creating the keyspace may not be
    in it yet, whatever `USE` said."""
    return _DDL_TABLE.sub(lambda m: f"{m[1]} {keyspace}.{m[2]}", cql)


def migrate(session: Session, settings: Settings) -> list[str]:
    """Create the keyspace and apply every schema file, in name order; safe to run again.

    Returns the files applied. Leaves the session using the keyspace.
    """
    options = replication_options(settings.cassandra_replication)
    rendered = ", ".join(f"'{k}': {v!r}" for k, v in options.items())
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {settings.cassandra_keyspace} WITH replication = {{{rendered}}}")
    raise_replication(session, settings.cassandra_keyspace, options, rendered)
    _use_keyspace(session, settings.cassandra_keyspace)
    applied = []
    for path in sorted(CQL_DIR.glob("*.cql")):
        for statement in statements(path.read_text()):
            session.execute(qualified_ddl(statement, settings.cassandra_keyspace))
        applied.append(path.name)
    return applied


SCHEMA_AGREEMENT_S = 30.0


def _use_keyspace(session: Session, keyspace: str) -> None:
    """`USE` the keyspace on every node's connections. On a ring, a keyspace another process just
    created (its `IF NOT EXISTS` makes this one's a no-op, and the driver waits for schema agreement
    only after a change of its own) may not have reached every node yet: wait until the nodes agree
    on the schema, and try again while one still says it does not exist."""
    deadline = time.monotonic() + SCHEMA_AGREEMENT_S
    while True:
        session.cluster.control_connection.wait_for_schema_agreement(wait_time=SCHEMA_AGREEMENT_S)
        try:
            session.set_keyspace(keyspace)
            return
        except (ConnectionException, InvalidRequest) as exc:  # `USE` on one node, or on every node's connections
            if "does not exist" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def keyspace_replication(session: Session, keyspace: str) -> dict[str, str]:
    row = session.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
                          (keyspace,)).one()
    return dict(row.replication) if row else {}


def raise_replication(session: Session, keyspace: str, options: dict[str, str | int], rendered: str) -> bool:
    """ALTER the keyspace when the setting asks for more replicas than it has (never fewer: lowering is
    an operator's decision). Rows written before only reach their new replicas through a repair."""
    current = keyspace_replication(session, keyspace)

    def factors(replication: dict) -> dict[str, int]:
        return {k: int(v) for k, v in replication.items() if k not in ("class",) and str(v).isdigit()}

    same_class = str(current.get("class", "")).rsplit(".", 1)[-1] == options["class"]
    wanted, have = factors(options), factors(current)
    if same_class and all(wanted[k] <= have.get(k, 0) for k in wanted):
        return False
    if same_class and any(wanted[k] < have.get(k, 0) for k in wanted):
        return False  # some lower, some higher: leave it to the operator
    session.execute(f"ALTER KEYSPACE {keyspace} WITH replication = {{{rendered}}}")
    log.warning("keyspace %s: replication raised from %s to %s; rows written before reach their new replicas "
                "only by a repair: run `nodetool repair -full %s` on every node, one at a time",
                keyspace, current, options, keyspace)
    return True


def migrate_when_up(settings: Settings, attempts: int = 60) -> None:
    """Apply the schema, waiting (two minutes at most) for a Cassandra that is still starting."""
    for _ in range(attempts):
        connection = cluster(settings)
        try:
            migrate(connection.connect(), settings)
            return
        except Exception as exc:  # noqa: BLE001 - NoHostAvailable and friends: not up yet
            logging.getLogger("exchange.db").warning("Cassandra schema not applied yet (%s); retrying", exc)
            time.sleep(2)
        finally:
            connection.shutdown()
    raise SystemExit("Cassandra stayed unreachable for two minutes; the schema is not applied")
