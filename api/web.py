"""The trading page (web/): served by the API process itself, same origin as /api/v1.

Only the page's own files and its one library (lightweight-charts, installed by npm into
web/node_modules from web/package-lock.json) are served; nothing is fetched from elsewhere. A
Content-Security-Policy keeps the page to scripts and styles of its own origin and connections to
this API and the hub.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .responses import JSONResponse

WEB = Path(__file__).resolve().parent.parent / "web"  # the image runs the code from /app too (Dockerfile)
FORWARDED_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
CHARTS = WEB / "node_modules" / "lightweight-charts" / "dist" / "lightweight-charts.standalone.production.mjs"


def hub_url(request: Request) -> str:
    """Where the page finds the hub: WS_PUBLIC_URL when set; behind a front door (a proxy that says
    X-Forwarded-Host, as Traefik and ingress controllers do) at the page's own origin, whose /ws
    the front door routes to the hub; else this host's WS_PORT."""
    settings = request.app.state.settings
    if settings.ws_public_url:
        return settings.ws_public_url
    forwarded = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
    if forwarded and FORWARDED_HOST.fullmatch(forwarded):
        proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
        return f"{'wss' if proto == 'https' else 'ws'}://{forwarded}/ws"
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.hostname}:{settings.ws_port}/ws"


def _policy(request: Request) -> str:
    hub = hub_url(request)
    origin = hub.split("/", 3)[:3]
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src 'self' {'/'.join(origin)}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


async def page(request: Request) -> Response:
    return FileResponse(WEB / "static" / "index.html", headers={
        "Content-Security-Policy": _policy(request), "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"})


async def config(request: Request) -> JSONResponse:
    # Not stored by caches: the answer depends on the request's forwarded host.
    return JSONResponse({"ws_url": hub_url(request)}, headers={"Cache-Control": "no-store"})


async def charts(request: Request) -> Response:
    if not CHARTS.exists():
        return PlainTextResponse("the chart library is not installed: run `make install` (npm ci in web/)", 503)
    return FileResponse(CHARTS, media_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})


ROUTES = [
    Route("/", page, methods=["GET"]),
    Route("/config.json", config, methods=["GET"]),
    Route("/vendor/lightweight-charts.mjs", charts, methods=["GET"]),
    Mount("/static", StaticFiles(directory=WEB / "static"), name="static"),
]
