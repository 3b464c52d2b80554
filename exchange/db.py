"""Opening a Cassandra cluster connection the same way in every process, and the schema migration."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy, TokenAwarePolicy

from exchange.config import Settings, replication_options

CQL_DIR = Path(__file__).resolve().parent.parent / "schemas" / "cql"


def cluster(settings: Settings, timeout: float = 10.0) -> Cluster:
    # Token awareness sends each query straight to a replica of its partition.
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()), request_timeout=timeout
    )
    return Cluster(
        [settings.cassandra_host], port=settings.cassandra_port,
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


def qualified(cql: str, keyspace: str) -> str:
    """The statement with its table named with the keyspace, for preparing. A statement prepared
    on a connection that relies on `USE` would mean whichever keyspace the connection is in, and
    Cassandra 5 warns of it at every start."""
    return _TABLE.sub(lambda m: f"{m[1]} {keyspace}.{m[2]}", cql)


def migrate(session: Session, settings: Settings) -> list[str]:
    """Create the keyspace and apply every schema file, in name order; safe to run again.

    Returns the files applied. Leaves the session using the keyspace.
    """
    options = replication_options(settings.cassandra_replication)
    rendered = ", ".join(f"'{k}': {v!r}" for k, v in options.items())
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {settings.cassandra_keyspace} WITH replication = {{{rendered}}}")
    session.set_keyspace(settings.cassandra_keyspace)
    applied = []
    for path in sorted(CQL_DIR.glob("*.cql")):
        for statement in statements(path.read_text()):
            session.execute(statement)
        applied.append(path.name)
    return applied


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
