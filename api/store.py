"""The API's Cassandra queries, prepared once, run without blocking the event loop."""

from __future__ import annotations

import asyncio

from cassandra.cluster import Session

from exchange.config import Settings
from exchange.db import cluster, migrate, qualified, wait

QUERIES = {
    "user_by_email": "SELECT * FROM users_by_email WHERE email = ?",
    "user_by_account": "SELECT * FROM users_by_account WHERE account = ?",
    "new_email": "INSERT INTO users_by_email (email, account, username, password_hash, role, created_ts) "
                 "VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
    "new_user": "INSERT INTO users_by_account (account, email, username, role, created_ts) VALUES (?, ?, ?, ?, ?)",
    # users_by_email rows are created by a lightweight transaction; their changes are ones too,
    # as Cassandra asks when a partition mixes both.
    "set_password": "UPDATE users_by_email SET password_hash = ? WHERE email = ? IF EXISTS",
    "set_username_by_email": "UPDATE users_by_email SET username = ? WHERE email = ? IF EXISTS",
    "set_username": "UPDATE users_by_account SET username = ? WHERE account = ?",
    "api_key": "SELECT account, revoked FROM api_keys WHERE key_id = ?",
    "api_keys_of": "SELECT key_id, label, created_ts, revoked FROM api_keys_by_account WHERE account = ?",
    "new_api_key": "INSERT INTO api_keys (key_id, account, label, created_ts, revoked) VALUES (?, ?, ?, ?, false)",
    "new_api_key_of": "INSERT INTO api_keys_by_account (account, key_id, label, created_ts, revoked) "
                      "VALUES (?, ?, ?, ?, false)",
    "revoke_api_key": "UPDATE api_keys SET revoked = true WHERE key_id = ?",
    "revoke_api_key_of": "UPDATE api_keys_by_account SET revoked = true WHERE account = ? AND key_id = ?",
    "balances": "SELECT asset, available, held FROM balances_by_account WHERE account = ?",
    # An order is read by its account, so another account's order id finds nothing.
    "order": "SELECT * FROM orders_by_account WHERE account = ? AND order_id = ?",
    "orders": "SELECT * FROM orders_by_account WHERE account = ? AND order_id < ? LIMIT ?",
    "open_orders": "SELECT market, order_id FROM open_orders_by_account WHERE account = ?",
    "open_orders_in": "SELECT market, order_id FROM open_orders_by_account WHERE account = ? AND market = ?",
    "take_id_node": "INSERT INTO order_id_nodes (node, holder) VALUES (?, ?) IF NOT EXISTS USING TTL ?",
    "renew_id_node": "UPDATE order_id_nodes USING TTL ? SET holder = ? WHERE node = ? IF holder = ?",
    "release_id_node": "DELETE FROM order_id_nodes WHERE node = ? IF holder = ?",
    "claim_client_order": "INSERT INTO client_order_claims (account, client_order_id, order_id, market, claimed_ts) "
                          "VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
    "claim_sent": "UPDATE client_order_claims SET sent = true WHERE account = ? AND client_order_id = ?",
    "take_over_claim": "UPDATE client_order_claims SET order_id = ?, market = ?, claimed_ts = ? "
                       "WHERE account = ? AND client_order_id = ? IF order_id = ? AND sent = null",
    "claim_state": "SELECT order_id, sent, claimed_ts FROM client_order_claims "
                   "WHERE account = ? AND client_order_id = ?",
    "release_client_order": "DELETE FROM client_order_claims WHERE account = ? AND client_order_id = ? IF order_id = ?",
    "my_trades": "SELECT * FROM trades_by_account WHERE account = ? AND ts <= ? LIMIT ?",
    "order_by_client_id": "SELECT order_id, market FROM orders_by_client_id WHERE account = ? AND client_order_id = ?",
    "client_order_claim": "SELECT order_id, market FROM client_order_claims WHERE account = ? AND client_order_id = ?",
    "ledger": "SELECT * FROM ledger_by_account WHERE account = ? AND ts <= ? LIMIT ?",
    "withdrawals": "SELECT * FROM withdrawals_by_account WHERE account = ? LIMIT ?",
    "withdrawals_before": "SELECT * FROM withdrawals_by_account WHERE account = ? AND withdrawal_id < ? LIMIT ?",
    "withdrawal": "SELECT * FROM withdrawals_by_id WHERE withdrawal_id = ?",
    "pending_withdrawals": "SELECT * FROM pending_withdrawals WHERE asset = ? AND withdrawal_id > ? LIMIT ?",
    "trades": "SELECT * FROM trades_by_market_day WHERE market = ? AND day = ? LIMIT ?",
    "ticker": "SELECT * FROM tickers WHERE market = ?",
    "candles": "SELECT * FROM candles WHERE market = ? AND interval = ? LIMIT ?",
    "depth": "SELECT last_update_id, snapshot FROM depth_snapshots WHERE market = ?",
    "recorded_positions": "SELECT topic, partition, next_offset FROM recorded_positions WHERE reader = ?",
    "notifications_before": "SELECT * FROM notifications_by_account WHERE account = ? AND id < ? LIMIT ?",
    "notification": "SELECT id FROM notifications_by_account WHERE account = ? AND id = ?",
    "mark_notification_read": "UPDATE notifications_by_account SET read = true WHERE account = ? AND id = ?",
    "notifications_read_through": "SELECT id FROM notifications_read_through WHERE account = ?",
    "set_notifications_read_through": "INSERT INTO notifications_read_through (account, id) VALUES (?, ?)",
    "notification_preferences": "SELECT kind, email FROM notification_preferences WHERE account = ?",
    "set_notification_preference": "INSERT INTO notification_preferences (account, kind, email) VALUES (?, ?, ?)",
    "market_day_reports": "SELECT * FROM market_day_reports WHERE day = ?",
    "market_hour_reports": "SELECT * FROM market_hour_reports WHERE day = ?",
    "asset_reports": "SELECT * FROM asset_reports",
    "listen_key": "SELECT account, created_ts FROM listen_keys WHERE listen_key = ?",
    "listen_key_of": "SELECT listen_key FROM listen_keys_by_account WHERE account = ?",
    "put_listen_key_of": "INSERT INTO listen_keys_by_account (account, listen_key) VALUES (?, ?)",
    "put_listen_key": "INSERT INTO listen_keys (listen_key, account, created_ts) VALUES (?, ?, ?)",
    "drop_listen_key": "DELETE FROM listen_keys WHERE listen_key = ?",
}


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cluster = None
        self.session: Session | None = None
        self._prepared: dict = {}

    async def start(self) -> None:
        def connect() -> Session:
            self._cluster = cluster(self.settings)
            session = self._cluster.connect()
            migrate(session, self.settings)  # idempotent; the API may start before any recorder
            return session

        self.session = await asyncio.to_thread(connect)
        keyspace = self.settings.cassandra_keyspace
        self._prepared = {name: await asyncio.to_thread(self.session.prepare, qualified(cql, keyspace))
                          for name, cql in QUERIES.items()}

    async def stop(self) -> None:
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.shutdown)

    async def rows(self, name: str, *params) -> list:
        return await wait(self.session.execute_async(self._prepared[name].bind(params)))

    async def one(self, name: str, *params):
        rows = await self.rows(name, *params)
        return rows[0] if rows else None

    async def ping(self) -> bool:
        try:
            await wait(self.session.execute_async("SELECT release_version FROM system.local", timeout=2.0))
            return True
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False
