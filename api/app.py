"""The REST API's routing table and lifecycle. Every route is listed here, once."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.routing import Route

from exchange.commands import CommandBatcher, CommandProducer
from exchange.config import ConfigError, Settings
from exchange.kafka_io import ensure_topics

from . import (
    admin,
    api_keys,
    auth,
    ledger,
    market_data,
    notifications,
    openapi,
    operator_reports,
    ops,
    orders,
    profile,
    statements,
    wallet,
    web,
    withdrawals,
)
from .binance import routes as binance_routes
from .binance.limits import Limits
from .errors import HANDLERS
from .feeds import Feeds
from .fresh_reads import FreshReads
from .ids import NodeLease, OrderIds
from .security import LoginBrake, VerifiedTokens, jwt_secret
from .store import Store

V1 = "/api/v1"

# Starlette tries the routes in this order, matching each one's pattern against the path until
# one fits: orders, the busiest by far, come first (behind the 22 other routes then, finding one took
# 8-10 µs, 1 µs now). `/orders/history` stays before `/orders/{order_id}`, which would take it.
ROUTES = [
    Route(f"{V1}/orders", orders.place_order, methods=["POST"]),
    Route(f"{V1}/orders", orders.open_orders, methods=["GET"]),
    Route(f"{V1}/orders", orders.cancel_all_orders, methods=["DELETE"]),
    Route(f"{V1}/orders/history", orders.order_history, methods=["GET"]),
    Route(f"{V1}/orders/{{order_id}}", orders.get_order, methods=["GET"]),
    Route(f"{V1}/orders/{{order_id}}", orders.cancel_order, methods=["DELETE"]),
    Route(f"{V1}/auth/signup", auth.signup, methods=["POST"]),
    Route(f"{V1}/auth/login", auth.login, methods=["POST"]),
    Route(f"{V1}/auth/me", auth.me, methods=["GET"]),
    Route(f"{V1}/auth/me", profile.update_me, methods=["PATCH"]),
    Route(f"{V1}/auth/password", profile.change_password, methods=["POST"]),
    Route(f"{V1}/auth/sign-out", profile.sign_out, methods=["POST"]),
    Route(f"{V1}/api-keys", api_keys.create_key, methods=["POST"]),
    Route(f"{V1}/api-keys", api_keys.list_keys, methods=["GET"]),
    Route(f"{V1}/api-keys/{{key_id}}", api_keys.revoke_key, methods=["DELETE"]),
    Route(f"{V1}/assets", market_data.assets, methods=["GET"]),
    Route(f"{V1}/markets", market_data.markets, methods=["GET"]),
    Route(f"{V1}/markets/{{market}}", market_data.market, methods=["GET"]),
    Route(f"{V1}/admin/assets", admin.create_asset, methods=["POST"]),
    Route(f"{V1}/admin/markets", admin.create_market, methods=["POST"]),
    Route(f"{V1}/admin/markets/{{market}}/halt", admin.halt_market, methods=["POST"]),
    Route(f"{V1}/admin/markets/{{market}}/resume", admin.resume_market, methods=["POST"]),
    Route(f"{V1}/admin/withdrawals", withdrawals.pending_withdrawals, methods=["GET"]),
    Route(f"{V1}/admin/reports/markets", operator_reports.markets, methods=["GET"]),
    Route(f"{V1}/admin/reports/assets", operator_reports.assets, methods=["GET"]),
    Route(f"{V1}/admin/withdrawals/{{withdrawal_id}}/complete", withdrawals.complete_withdrawal, methods=["POST"]),
    Route(f"{V1}/admin/withdrawals/{{withdrawal_id}}/fail", withdrawals.fail_withdrawal, methods=["POST"]),
    Route(f"{V1}/balances", wallet.balances, methods=["GET"]),
    Route(f"{V1}/wallet/deposits", wallet.deposit_funds, methods=["POST"]),
    Route(f"{V1}/wallet/withdrawals", withdrawals.request_withdrawal, methods=["POST"]),
    Route(f"{V1}/wallet/withdrawals", withdrawals.own_withdrawals, methods=["GET"]),
    Route(f"{V1}/wallet/withdrawals/{{withdrawal_id}}", withdrawals.own_withdrawal, methods=["GET"]),
    Route(f"{V1}/wallet/ledger", ledger.ledger, methods=["GET"]),
    Route(f"{V1}/statements", statements.statement, methods=["GET"]),
    Route(f"{V1}/my/trades", orders.my_trades, methods=["GET"]),
    Route(f"{V1}/notifications", notifications.notifications, methods=["GET"]),
    Route(f"{V1}/notifications/unread-count", notifications.unread_count, methods=["GET"]),
    Route(f"{V1}/notifications/preferences", notifications.preferences, methods=["GET"]),
    Route(f"{V1}/notifications/preferences", notifications.set_preferences, methods=["PUT"]),
    Route(f"{V1}/notifications/read-all", notifications.mark_all_read, methods=["POST"]),
    Route(f"{V1}/notifications/{{notification_id}}/read", notifications.mark_read, methods=["POST"]),
    Route(f"{V1}/depth", market_data.depth, methods=["GET"]),
    Route(f"{V1}/trades", market_data.trades, methods=["GET"]),
    Route(f"{V1}/ticker", market_data.ticker, methods=["GET"]),
    Route(f"{V1}/klines", market_data.klines, methods=["GET"]),
    Route("/healthz", ops.healthz, methods=["GET"]),
    Route("/readyz", ops.readyz, methods=["GET"]),
    Route("/metrics", ops.metrics, methods=["GET"]),
    Route("/openapi.json", openapi.document, methods=["GET"]),
    *binance_routes.ROUTES,  # the Binance-compatible API (api/binance/), beside /api/v1
    *web.ROUTES,  # the trading page (web/)
]


def create_app(settings: Settings) -> Starlette:
    secret = jwt_secret(settings)  # refuses to build a production app without a strong secret
    if settings.is_production and settings.faucet:
        raise ConfigError("EXCHANGE_FAUCET=on is for development only")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await ensure_topics(settings)
        state = app.state
        state.store, state.feeds = Store(settings), Feeds(settings)
        state.producer = CommandProducer(settings, linger_ms=1)
        await state.producer.start()
        state.commands = CommandBatcher(state.producer)
        await state.store.start()
        state.fresh = FreshReads(settings, state.store)
        await state.fresh.start()
        state.id_lease = NodeLease(state.store, state.ids)
        await state.id_lease.start()
        await state.feeds.start()
        try:
            yield
        finally:
            await state.id_lease.stop()
            await state.feeds.stop()
            await state.fresh.stop()
            await state.producer.stop()
            await state.store.stop()

    app = Starlette(routes=ROUTES, exception_handlers=HANDLERS, lifespan=lifespan)
    app.state.settings, app.state.secret, app.state.tokens = settings, secret, VerifiedTokens(secret)
    app.state.brake, app.state.ids, app.state.metrics = LoginBrake(), OrderIds(), ops.Metrics()
    app.state.binance_limits = Limits(settings.binance_weight_per_minute, settings.binance_orders_per_10s)
    app.add_middleware(ops.MetricsMiddleware, metrics=app.state.metrics)
    return app


# How long an idle keep-alive connection stays open. Client pools keep idle connections longer than
# uvicorn's 5 s (aiohttp, under ccxt and Freqtrade: 15 s): a bot polling every 5 s then sends on a
# connection the server is closing at that moment and gets a network error now and then.
KEEP_ALIVE_S = 75


def run(port: int | None = None) -> int:
    """`exchange api`: one API process."""
    import uvicorn

    from exchange import fetch_wait, gc_tuning, logs

    settings = Settings.from_env()
    logs.configure(settings.log_format, "api")
    fetch_wait.install()
    app = create_app(settings)
    gc_tuning.tune()
    # log_config=None: uvicorn's records go through the root handler configured above.
    uvicorn.run(app, host=settings.bind_host, port=port or settings.api_port, log_level="warning", access_log=False,
                log_config=None, ssl_certfile=settings.tls_cert_file or None, ssl_keyfile=settings.tls_key_file or None,
                timeout_keep_alive=KEEP_ALIVE_S)
    return 0
