"""The REST benchmark's ceiling: one bare Starlette route in a uvicorn process of its own.

The route reads the body and answers 201 with a small JSON object, with no middleware, no
authentication and no Kafka. It is loaded by the same client as the orders, from the same
number of connections, so the gap between its figure and the API's is what an order costs
beyond Starlette and uvicorn themselves (as the pipeline benchmark prints raw aiokafka).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from infra.local.ports import free_port

from .load import Connection, cpu_sample

BODY = b'{"market":"SOL_USDC","side":"buy","price":"100.01","quantity":"0.1"}'


def serve(port: int) -> None:
    """Run the bare route, with the uvicorn settings `exchange api` uses."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    from api.responses import JSONResponse

    async def place(request):
        await request.body()
        return JSONResponse({"status": "ok"}, status_code=201)

    app = Starlette(routes=[Route("/api/v1/orders", place, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, log_config=None)


async def measure(seconds: float, connections: int) -> str:
    """Requests/s and CPU per request of the bare route, as a line to print."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", f"from bench.http_ceiling import serve; serve({port})"])
    try:
        await _until_up(port)
        before = cpu_sample({"server": server.pid})
        count = await _load(port, seconds, connections)
        after = cpu_sample({"server": server.pid})
    finally:
        server.terminate()
        server.wait(timeout=30)
    elapsed = after.at - before.at
    busy = after.processes["server"] - before.processes["server"]
    return (f"bare Starlette route: {count / elapsed:,.0f} requests/s, {busy / elapsed:.0%} of a core, "
            f"{busy / max(count, 1) * 1e6:.0f} µs of CPU a request ({connections} connections, no Kafka)")


async def _until_up(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _load(port: int, seconds: float, connections: int) -> int:
    stop = time.monotonic() + seconds
    count = 0

    async def client() -> None:
        nonlocal count
        connection = Connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop:
                status, _ = await connection.request("POST", "/api/v1/orders", BODY, {"Authorization": "Bearer x"})
                if status != 201:
                    raise RuntimeError(f"the bare route answered {status}")
                count += 1
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return count
