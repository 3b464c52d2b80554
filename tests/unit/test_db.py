"""The CQL the exchange sends names its keyspace itself rather than relying on `USE`."""

from __future__ import annotations

from exchange.db import CQL_DIR, qualified, qualified_ddl, statements


def test_every_schema_statement_names_the_keyspace_of_its_table():
    applied = [qualified_ddl(s, "ks") for path in sorted(CQL_DIR.glob("*.cql")) for s in statements(path.read_text())]
    assert applied and all(" ks." in s.split("(")[0] for s in applied), [s[:60] for s in applied if " ks." not in s]
    assert qualified_ddl("CREATE TABLE IF NOT EXISTS other.t (a int PRIMARY KEY)", "ks").startswith(
        "CREATE TABLE IF NOT EXISTS other.t")  # named already: left alone


def test_queries_name_the_keyspace_of_their_table():
    assert qualified("SELECT * FROM trades WHERE market = ?", "ks") == "SELECT * FROM ks.trades WHERE market = ?"
    assert qualified("INSERT INTO ks.t (a) VALUES (?)", "ks") == "INSERT INTO ks.t (a) VALUES (?)"
