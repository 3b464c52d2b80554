"""The hub's routing table and lifecycle: the WebSocket endpoints (the exchange's /ws, Binance's
/ws/<stream>, /ws/<listenKey> and /stream), health and metrics."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from api.security import jwt_secret
from exchange.config import Settings
from exchange.kafka_io import ensure_topics

from . import binance_user_stream
from .binance_user_stream import LISTEN_KEY
from .binance_ws_api import WsApiClient
from .client import Client
from .connection import FRAMES, FanoutProtocol
from .hub import Hub


async def websocket(ws: WebSocket) -> None:
    if await _fans_out(ws):
        state = ws.app.state
        await Client(ws, state.hub, state.secret, state.settings.ws_client_buffer).serve()


async def _fans_out(ws: WebSocket) -> bool:
    if FRAMES not in ws.scope.get("extensions", {}):
        # Served by something other than `exchange ws` (see run below): no way to fan out.
        await ws.close(code=1011, reason="this server lacks the hub's frame writer; run `exchange ws`")
        return False
    return True


async def binance_raw(ws: WebSocket) -> None:
    """Binance's /ws/<stream>[/<stream>...] (each event as it is) and /ws/<listenKey> (user data).
    As on Binance, any name is accepted and only known streams are followed: ccxt.pro connects to
    /ws/<a number of its own> and then sends SUBSCRIBE."""
    if not await _fans_out(ws):
        return
    state = ws.app.state
    names = [name for name in ws.path_params["path"].split("/") if name]
    client = Client(ws, state.hub, state.secret, state.settings.ws_client_buffer, binance=True)
    if len(names) == 1 and LISTEN_KEY.fullmatch(names[0]):
        await binance_user_stream.serve(client, names[0])
        return
    await client.serve(streams=[name for name in names if client.valid(name)])


async def binance_ws_api(ws: WebSocket) -> None:
    """The part of Binance's WebSocket API that user data needs (ws/binance_ws_api.py)."""
    if not await _fans_out(ws):
        return
    state = ws.app.state
    await WsApiClient(ws, state.hub, state.secret, state.settings.ws_client_buffer).serve()


async def binance_combined(ws: WebSocket) -> None:
    """Binance's /stream?streams=a/b/c: events wrapped as {"stream", "data"}."""
    if not await _fans_out(ws):
        return
    state = ws.app.state
    names = [name for name in ws.query_params.get("streams", "").split("/") if name]
    client = Client(ws, state.hub, state.secret, state.settings.ws_client_buffer, combined=True, binance=True)
    await client.serve(streams=[name for name in names if client.valid(name)])


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> PlainTextResponse:
    hub = request.app.state.hub
    binance = hub.binance
    groups = (*hub.public.values(), *hub.private.values(), *binance.raw.values(), *binance.combined.values(),
              *binance.listeners.values())
    clients = {c for group in groups for c in group}
    text = ("# TYPE exchange_ws_messages_delivered_total counter\n"
            f"exchange_ws_messages_delivered_total {hub.delivered}\n"
            "# TYPE exchange_ws_subscribed_clients gauge\n"
            f"exchange_ws_subscribed_clients {len(clients)}\n"
            "# TYPE exchange_ws_clients_cut_off_total counter\n"
            f"exchange_ws_clients_cut_off_total {hub.clients_cut_off}\n")
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def create_app(settings: Settings) -> Starlette:
    secret = jwt_secret(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await ensure_topics(settings)  # as the API does: a newer version's topics (sign-outs) may be missing
        app.state.hub = Hub(settings)
        await app.state.hub.start()
        try:
            yield
        finally:
            await app.state.hub.stop()

    app = Starlette(routes=ROUTES, lifespan=lifespan)
    app.state.secret, app.state.settings = secret, settings
    return app


# A front door sends the WebSocket paths here (infra/traefik/routes.yml, infra/k8s/ingress.yaml).
ROUTES = [WebSocketRoute("/ws", websocket), WebSocketRoute("/ws/{path:path}", binance_raw),
          WebSocketRoute("/stream", binance_combined), WebSocketRoute("/ws-api/v3", binance_ws_api),
          Route("/healthz", healthz), Route("/metrics", metrics)]


def run(port: int | None = None) -> int:
    """`exchange ws`: one hub process. uvicorn pings every 20 s and drops a client silent for 60 s."""
    import resource

    import uvicorn

    from exchange import fetch_wait, gc_tuning, logs

    settings = Settings.from_env()
    logs.configure(settings.log_format, "ws")
    fetch_wait.install()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # a socket per client: 1,024 is not many
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    gc_tuning.tune()
    # No per-message compression: frames are built once for every client, and compressing them
    # per connection would cost more than the fan-out itself. On SIGTERM, connections get 5 s to
    # close before the process goes anyway.
    uvicorn.run(create_app(settings), host=settings.bind_host, port=port or settings.ws_port, log_level="warning",
                ws=FanoutProtocol, ws_per_message_deflate=False, ws_ping_interval=20.0, ws_ping_timeout=60.0,
                ws_max_size=64 * 1024, timeout_graceful_shutdown=5, log_config=None,
                ssl_certfile=settings.tls_cert_file or None, ssl_keyfile=settings.tls_key_file or None)
    return 0
