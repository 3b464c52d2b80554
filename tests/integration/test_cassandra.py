"""cassandra-driver against the real node: schema, prepared statements, lightweight transactions."""

from __future__ import annotations

import uuid

import pytest

from exchange.config import replication_options
from exchange.db import cluster as open_cluster


@pytest.fixture(scope="module")
def session(infra):
    cluster = open_cluster(infra)
    session = cluster.connect()
    keyspace = f"t_{uuid.uuid4().hex[:10]}"
    options = replication_options(infra.cassandra_replication)
    options_cql = ", ".join(f"'{k}': {v!r}" for k, v in options.items())
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{{options_cql}}}")
    session.set_keyspace(keyspace)
    yield session
    session.execute(f"DROP KEYSPACE {keyspace}")
    cluster.shutdown()


def test_prepared_insert_and_select_round_trip(session):
    session.execute(
        "CREATE TABLE IF NOT EXISTS trades_by_market_day ("
        " market text, day text, trade_id bigint, price bigint, quantity bigint,"
        " PRIMARY KEY ((market, day), trade_id)) WITH CLUSTERING ORDER BY (trade_id DESC)"
    )
    insert = session.prepare(
        "INSERT INTO trades_by_market_day (market, day, trade_id, price, quantity) VALUES (?, ?, ?, ?, ?)"
    )
    for trade_id in (1, 2, 3):
        session.execute(insert, ("SOL_USDC", "2026-11-21", trade_id, 15000 + trade_id, 10 * trade_id))
    session.execute(insert, ("BTC_USDT", "2026-11-21", 9, 1, 1))
    select = session.prepare("SELECT trade_id, price, quantity FROM trades_by_market_day WHERE market = ? AND day = ?")
    rows = list(session.execute(select, ("SOL_USDC", "2026-11-21")))
    # Newest first, as the clustering order says; the other market's row stays apart.
    assert [(r.trade_id, r.price, r.quantity) for r in rows] == [(3, 15003, 30), (2, 15002, 20), (1, 15001, 10)]


def test_lightweight_transaction_refuses_a_duplicate(session):
    session.execute("CREATE TABLE IF NOT EXISTS users_by_email (email text PRIMARY KEY, user_id uuid)")
    claim = session.prepare("INSERT INTO users_by_email (email, user_id) VALUES (?, ?) IF NOT EXISTS")
    first, second = uuid.uuid4(), uuid.uuid4()
    assert session.execute(claim, ("ada@example.com", first)).was_applied
    refused = session.execute(claim, ("ada@example.com", second))
    assert not refused.was_applied
    assert refused.one().user_id == first  # the answer names the row that already holds the email
    stored = session.execute("SELECT user_id FROM users_by_email WHERE email = 'ada@example.com'").one()
    assert stored.user_id == first


def test_every_statement_is_prepared_with_its_keyspace_so_cassandra_has_nothing_to_warn_of(infra, caplog):
    """Unqualified, Cassandra 5 logs an anti-pattern warning for statements prepared after USE."""
    import dataclasses
    import logging

    from api.store import QUERIES
    from exchange.db import migrate, qualified
    from streams.read_model import READS, STATEMENTS

    settings = dataclasses.replace(infra, cassandra_keyspace=f"q_{uuid.uuid4().hex[:10]}")
    cluster = open_cluster(settings)
    try:
        session = cluster.connect()
        migrate(session, settings)  # leaves the session in the keyspace, as the API's and the recorder's are

        def warned(cql: str) -> bool:
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="cassandra.protocol"):
                session.prepare(cql)
            return any("anti-pattern" in record.getMessage() for record in caplog.records)

        assert warned("SELECT market FROM depth_snapshots WHERE market = ?")  # the warning is there to see
        for cql in (*QUERIES.values(), *STATEMENTS.values(), *READS.values()):
            assert not warned(qualified(cql, session.keyspace)), cql
        session.execute(f"DROP KEYSPACE {settings.cassandra_keyspace}")
    finally:
        cluster.shutdown()
