"""A worker's or recorder's HTTP endpoint, on a thread of its own: `/metrics` for Prometheus and
`/healthz` for a liveness probe.

`/healthz` answers 200 while the event loop keeps running and 503 once it has not run for
STUCK_AFTER_S: a loop blocked by a call that never returns stops every agent but not this
thread, so only this check tells. (A process stopped outright, by SIGSTOP or a hung host, does
not answer at all, which a probe counts as a failure too.) Either way the group coordinator also
drops the member once its heartbeats stop, and its partitions move to the other workers; the
probe's restart brings the worker back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

BEAT_EVERY_S = 1.0
STUCK_AFTER_S = 30.0
PATHS = ("/metrics", "/healthz")


class Heartbeat:
    """When the event loop last ran a callback of ours."""

    def __init__(self) -> None:
        self.last = time.monotonic()  # start-up counts as running until the loop takes over

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon(self._beat, loop)

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last = time.monotonic()
        loop.call_later(BEAT_EVERY_S, self._beat, loop)

    def age(self) -> float:
        return time.monotonic() - self.last


def serve(host: str, port: int, heartbeat: Heartbeat) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; the server, to shut down in tests."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                age = heartbeat.age()
                status = 200 if age < STUCK_AFTER_S else 503
                self._answer(status, f"event loop last ran {age:.1f} s ago\n".encode(), "text/plain")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            pass  # a probe every few seconds is not news

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
