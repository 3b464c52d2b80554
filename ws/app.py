"""The hub's routing table and lifecycle: one WebSocket endpoint, health and metrics."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from api.security import jwt_secret
from exchange.config import Settings

from .client import Client
from .hub import Hub


async def websocket(ws: WebSocket) -> None:
    state = ws.app.state
    await Client(ws, state.hub, state.secret, state.settings.ws_client_queue).serve()


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> PlainTextResponse:
    hub = request.app.state.hub
    clients = {c for group in (*hub.public.values(), *hub.private.values()) for c in group}
    text = ("# TYPE exchange_ws_messages_delivered_total counter\n"
            f"exchange_ws_messages_delivered_total {hub.delivered}\n"
            "# TYPE exchange_ws_subscribed_clients gauge\n"
            f"exchange_ws_subscribed_clients {len(clients)}\n")
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def create_app(settings: Settings) -> Starlette:
    secret = jwt_secret(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.hub = Hub(settings)
        await app.state.hub.start()
        try:
            yield
        finally:
            await app.state.hub.stop()

    app = Starlette(routes=[WebSocketRoute("/ws", websocket), Route("/healthz", healthz), Route("/metrics", metrics)],
                    lifespan=lifespan)
    app.state.secret, app.state.settings = secret, settings
    return app


def run(port: int | None = None) -> int:
    """`exchange ws`: one hub process. uvicorn pings every 20 s and drops a client silent for 60 s."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning, module="websockets")
    import uvicorn

    from exchange import logs

    settings = Settings.from_env()
    logs.configure(settings.log_format, "ws")
    # ws="websockets": uvicorn's default WebSocket implementation (sans-I/O) buffers whatever is
    # sent without waiting for the socket, so a client that stops reading would grow the hub's
    # memory instead of filling its queue; this one waits for the socket to drain.
    uvicorn.run(create_app(settings), host=settings.bind_host, port=port or settings.ws_port, log_level="warning",
                ws="websockets", ws_ping_interval=20.0, ws_ping_timeout=60.0, ws_max_size=64 * 1024,
                log_config=None)
    return 0
