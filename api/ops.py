"""GET /healthz, /readyz, /metrics: liveness, dependencies, and Prometheus counters."""

from __future__ import annotations

import time
from collections import defaultdict

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from .responses import JSONResponse

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Requests by route and status, and their latency as a histogram."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.latency_sum: dict[str, float] = defaultdict(float)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        counts = self.latency[route]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-1] += 1
        self.latency_sum[route] += seconds

    def render(self) -> str:
        lines = ["# TYPE exchange_api_requests_total counter"]
        for (route, status), n in sorted(self.requests.items()):
            lines.append(f'exchange_api_requests_total{{route="{route}",status="{status}"}} {n}')
        lines.append("# TYPE exchange_api_request_seconds histogram")
        for route, counts in sorted(self.latency.items()):
            for bound, n in zip(BUCKETS, counts):
                lines.append(f'exchange_api_request_seconds_bucket{{route="{route}",le="{bound}"}} {n}')
            lines.append(f'exchange_api_request_seconds_bucket{{route="{route}",le="+Inf"}} {counts[-1]}')
            lines.append(f'exchange_api_request_seconds_count{{route="{route}"}} {counts[-1]}')
            lines.append(f'exchange_api_request_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}')
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI, so it sees every response, errors included."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def record(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            self.metrics.observe(getattr(route, "path", "unmatched"), status[0], time.perf_counter() - started)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    cassandra = await state.store.ping()
    kafka = state.feeds.ready.is_set() and await state.producer.ping()
    body = {"kafka": "up" if kafka else "down", "cassandra": "up" if cassandra else "down"}
    return JSONResponse(body, status_code=200 if kafka and cassandra else 503)


async def metrics(request: Request) -> PlainTextResponse:
    state = request.app.state
    cassandra = await state.store.ping()
    kafka = state.feeds.ready.is_set() and await state.producer.ping()
    dependencies = ("# TYPE exchange_api_dependency_up gauge\n"
                    f'exchange_api_dependency_up{{dependency="kafka"}} {int(kafka)}\n'
                    f'exchange_api_dependency_up{{dependency="cassandra"}} {int(cassandra)}\n')
    return PlainTextResponse(state.metrics.render() + state.feeds.render_metrics() + state.fresh.render_metrics()
                             + dependencies, media_type="text/plain; version=0.0.4")
