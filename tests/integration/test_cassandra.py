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


def _migrated(infra):
    import dataclasses

    from exchange.db import migrate

    settings = dataclasses.replace(infra, cassandra_keyspace=f"s_{uuid.uuid4().hex[:10]}")
    cluster = open_cluster(settings)
    session = cluster.connect()
    migrate(session, settings)
    return settings, cluster, session


async def test_a_batch_cassandra_finds_too_large_is_sent_again_in_halves(infra):
    """The sink's size estimate is only an estimate: past Cassandra's batch_size_fail_threshold
    (50 KiB) the batch is split, not retried for ever or dropped."""
    from streams.cassandra_sink import CassandraSink
    from streams.read_model import Write

    settings, cluster, session = _migrated(infra)
    try:
        sink = CassandraSink(lambda: session, batch_bytes=10**9)  # one batch, whatever its size
        await sink.start()
        # Cassandra counts the cells' data, not the keys: each row carries a 1 kB snapshot.
        writes = [Write("depth", (f"M{i:03d}", i, bytes([i]) * 1000), i, ("depth", f"M{i:03d}")) for i in range(150)]
        assert await sink.write(writes) > 1
        rows = session.execute("SELECT market, last_update_id, snapshot FROM depth_snapshots")
        assert sorted((r.market, r.last_update_id, r.snapshot) for r in rows) == \
            [(f"M{i:03d}", i, bytes([i]) * 1000) for i in range(150)]
    finally:
        session.execute(f"DROP KEYSPACE {settings.cassandra_keyspace}")
        cluster.shutdown()


def test_an_order_recorded_before_the_upgrade_is_read_after_it(infra):
    """Older versions wrote every order to orders_by_id and orders_by_account; the API now reads
    orders_by_account by (account, order_id), and migration 006 drops orders_by_id."""
    from api.store import QUERIES
    from exchange.db import CQL_DIR, migrate, qualified, statements

    settings, cluster, session = _migrated(infra)
    try:
        session.execute("CREATE TABLE orders_by_id (order_id bigint PRIMARY KEY, account text, market text, "
                        "status text)")  # as the older schema had it
        session.execute("INSERT INTO orders_by_id (order_id, account, market, status) VALUES (7, 'u1', 'M', 'NEW')")
        session.execute("INSERT INTO orders_by_account (account, order_id, market, side, status, price, quantity) "
                        "VALUES ('u1', 7, 'M', 'buy', 'NEW', 100, 5)")
        migrate(session, settings)
        tables = {r.table_name for r in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (settings.cassandra_keyspace,))}
        assert "orders_by_id" not in tables
        query = session.prepare(qualified(QUERIES["order"], settings.cassandra_keyspace))
        (row,) = session.execute(query, ("u1", 7))
        assert (row.market, row.status, row.price, row.quantity) == ("M", "NEW", 100, 5)
        assert not list(session.execute(query, ("u2", 7)))  # another account's order id finds nothing
        assert any("DROP TABLE IF EXISTS orders_by_id" in s for p in CQL_DIR.glob("*.cql")
                   for s in statements(p.read_text()))
    finally:
        session.execute(f"DROP KEYSPACE {settings.cassandra_keyspace}")
        cluster.shutdown()
