"""Many WebSocket clients in one process, cheap enough that the hub, not they, is measured.

`exchange bench ws` starts a few of these (`python -m bench.ws_swarm ...`) so the clients use the
cores the hub leaves free. Each client speaks just enough of RFC 6455 to subscribe and count the
frames that arrive: the `websockets` library costs some 30 µs of CPU per message received, which
at 100,000 messages a second is three cores; counting frame headers costs about one microsecond.
A sample of trade frames (one in SAMPLE_EVERY) is parsed for its delay from the trade's time.

Protocol with the parent: prints `ready` once every client has its subscription confirmed, then
counts until its stdin closes, and prints one JSON line: frames received, delay samples (ms),
clients that were closed (and the first reason seen).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import resource
import sys
import time

import orjson

SAMPLE_EVERY = 50
MAX_SAMPLES = 20_000  # delays kept (a uniform sample of those taken), so the report stays small


class Counter:
    def __init__(self) -> None:
        self.frames = 0
        self.delays: list[float] = []
        self.closed: list[str] = []
        self._seen = 0

    def sample(self, delay: float) -> None:
        """Reservoir sampling: every delay seen has the same chance to be among those kept."""
        self._seen += 1
        if len(self.delays) < MAX_SAMPLES:
            self.delays.append(delay)
        else:
            slot = random.randrange(self._seen)
            if slot < MAX_SAMPLES:
                self.delays[slot] = delay


class SwarmClient(asyncio.Protocol):
    """One connection: handshake, one SUBSCRIBE, then frame counting."""

    def __init__(self, host: str, port: int, streams: list[str], counter: Counter) -> None:
        self.counter = counter
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        self.subscribe = orjson.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1})
        self.subscribed = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("closed before the subscription was confirmed"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buffer[:end].split(b"\r\n", 1)[0]:
                self.subscribed.set_exception(ConnectionError(bytes(buffer[:end]).decode("latin-1")))
                return
            del buffer[:end + 4]
            self.upgraded = True
            self.transport.write(_masked_text(self.subscribe))
        counter, start, size = self.counter, 0, len(buffer)
        while size - start >= 2:  # whole frames only; a partial one waits for more bytes
            length, head = buffer[start + 1] & 0x7F, 2
            if length == 126:
                if size - start < 4:
                    break
                length, head = int.from_bytes(buffer[start + 2:start + 4], "big"), 4
            elif length == 127:
                if size - start < 10:
                    break
                length, head = int.from_bytes(buffer[start + 2:start + 10], "big"), 10
            end = start + head + length
            if end > size:
                break
            opcode = buffer[start] & 0x0F
            if opcode == 1:
                if not self.subscribed.done():
                    self.subscribed.set_result(None)  # the reply to SUBSCRIBE comes first
                else:
                    counter.frames += 1
                    if counter.frames % SAMPLE_EVERY == 0:
                        data = orjson.loads(bytes(buffer[start + head:end])).get("data", {})
                        if data.get("e") == "trade":
                            counter.sample(time.time() * 1000 - data["T"])
            elif opcode == 8:
                counter.closed.append(bytes(buffer[start + head + 2:end]).decode("utf-8", "replace"))
            elif opcode == 9:  # ping: the hub drops clients that do not answer
                self.transport.write(_masked(0x8A, bytes(buffer[start + head:end])))
            start = end
        del buffer[:start]


def _masked_text(payload: bytes) -> bytes:
    return _masked(0x81, payload)


def _masked(first: int, payload: bytes) -> bytes:
    """A client frame (clients must mask); payloads here are under 126 bytes."""
    mask = os.urandom(4)
    return bytes([first, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def run(host: str, port: int, clients: int, streams: list[str]) -> dict:
    loop = asyncio.get_running_loop()
    counter = Counter()
    connections = []
    for _ in range(clients):
        _, protocol = await loop.create_connection(lambda: SwarmClient(host, port, streams, counter), host, port)
        connections.append(protocol)
    await asyncio.wait_for(asyncio.gather(*(c.subscribed for c in connections)), 60)
    counter.frames = 0
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    for connection in connections:
        connection.transport.abort()
    return {"frames": counter.frames, "delays": counter.delays, "closed": len(counter.closed),
            "reason": counter.closed[0] if counter.closed else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--streams", required=True, help="comma-separated")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.clients + 64)), hard))
    import uvloop

    result = uvloop.run(run("127.0.0.1", args.port, args.clients, args.streams.split(",")))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
