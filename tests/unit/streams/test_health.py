"""The worker's HTTP endpoint: metrics, and a liveness check that fails when the event loop stops."""

from __future__ import annotations

import asyncio
import time

import httpx

from infra.local.ports import free_port
from streams import health
from streams.metrics import COMMANDS


def test_healthz_answers_200_while_the_loop_runs_and_503_once_it_has_stopped():
    heartbeat = health.Heartbeat()
    port = free_port()
    server = health.serve("127.0.0.1", port, heartbeat)
    try:
        async def run_the_loop_a_moment() -> None:
            heartbeat.start(asyncio.get_running_loop())
            await asyncio.sleep(1.5)

        asyncio.run(run_the_loop_a_moment())
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        heartbeat.last = time.monotonic() - health.STUCK_AFTER_S - 1  # a loop stuck for that long
        stuck = httpx.get(f"{base}/healthz")
        assert stuck.status_code == 503 and "event loop last ran" in stuck.text
        COMMANDS.inc(0)
        assert "exchange_commands_total" in httpx.get(f"{base}/metrics").text  # served by the same thread
        assert httpx.get(f"{base}/nothing").status_code == 404
    finally:
        server.shutdown()


def test_the_heartbeat_follows_the_loop():
    heartbeat = health.Heartbeat()

    async def main() -> float:
        heartbeat.start(asyncio.get_running_loop())
        await asyncio.sleep(2.2)
        return heartbeat.age()

    assert asyncio.run(main()) < health.BEAT_EVERY_S + 0.5
