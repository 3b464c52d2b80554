"""The hub's frame door: frames built once are what a WebSocket client parses, and a client that
stops reading is cut off without the server waiting for it. A real uvicorn serves a tiny app
here, with the hub's protocol, so an upgrade that moves the uvicorn internals it uses fails here."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import orjson
import pytest
import uvicorn
import websockets
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from exchange.config import Settings
from infra.local.ports import free_port
from ws.app import create_app
from ws.connection import FRAMES, FanoutProtocol, text_frame


def parse(data: bytes) -> Frame:
    """A frame as the websockets library reads it on the client side (server frames are unmasked)."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(parser)
    return done.value.value


@given(st.one_of(st.integers(0, 300), st.integers(65_400, 65_700)), st.integers(0, 255))
def test_a_text_frame_of_any_length_reads_back_whole(size, fill):
    payload = bytes([32 + fill % 90]) * size  # printable ASCII is valid UTF-8 text
    frame = parse(text_frame(payload))
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)


def test_the_hub_endpoint_refuses_a_server_without_the_frame_writer():
    app = create_app(Settings.from_env())
    with pytest.raises(WebSocketDisconnect) as closed:
        with TestClient(app).websocket_connect("/ws") as ws:  # no lifespan, no FanoutProtocol
            ws.receive_text()
    assert closed.value.code == 1011


def handshake(port: int) -> socket.socket:
    """A raw client socket past the upgrade, with a small receive buffer; it answers nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    return sock


def read_to_end(sock: socket.socket, timeout: float = 20.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


class Served:
    """A uvicorn server on a free port, in this loop, with the hub's protocol."""

    def __init__(self, endpoint, ping: float | None = None) -> None:
        self.port = free_port()
        app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, ws=FanoutProtocol,
                                                    ws_per_message_deflate=False, log_level="warning",
                                                    lifespan="off", ws_ping_interval=ping, ws_ping_timeout=ping))

    async def __aenter__(self):
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


async def test_frames_written_through_the_door_arrive_in_order_between_asgi_messages():
    async def endpoint(ws):
        await ws.accept()
        await ws.send_text("first, through ASGI")
        frames = ws.scope["extensions"][FRAMES]
        assert frames.write(b"".join(text_frame(orjson.dumps({"n": n})) for n in range(1000))) is not None
        await ws.send_text("last, through ASGI")
        await ws.receive_text()

    async with Served(endpoint) as served:
        async with websockets.connect(f"ws://127.0.0.1:{served.port}/ws") as client:
            got = [await client.recv() for _ in range(1002)]
            await client.send("bye")
    assert got[0] == "first, through ASGI" and got[-1] == "last, through ASGI"
    assert [orjson.loads(g)["n"] for g in got[1:-1]] == list(range(1000))


async def test_a_client_that_stops_reading_is_cut_off_at_once_and_told_why():
    outcome: dict = {}

    async def endpoint(ws):
        await ws.accept()
        frames = ws.scope["extensions"][FRAMES]
        chunk = b"".join(text_frame(b'"' + b"x" * 1000 + b'"') for _ in range(100))
        written = 0
        while (buffered := frames.write(chunk)) is not None and buffered < 1 << 20:
            written += len(chunk)  # the socket stops taking bytes: they pile up in the buffer
        outcome["written"] = written
        frames.cut_off("slow consumer: test")
        assert frames.write(chunk) is None  # nothing after the close frame
        with pytest.raises(WebSocketDisconnect):
            await asyncio.wait_for(ws.receive_text(), 5)  # the app is told at once, not blocked
        outcome["told"] = True

    async with Served(endpoint) as served:
        sock = handshake(served.port)
        while "told" not in outcome:  # reading nothing meanwhile
            await asyncio.sleep(0.05)
        data = await asyncio.to_thread(read_to_end, sock)  # everything, then the close frame, then EOF
        sock.close()
    close_at = data.rindex(b"\x88")  # the last frame is the close: code 1008 and the reason
    assert data[close_at + 2:close_at + 4] == (1008).to_bytes(2, "big")
    assert data[close_at + 4:] == b"slow consumer: test"
    assert len(data) > outcome["written"] > 0


async def test_a_client_cut_off_while_it_floods_the_hub_receives_the_close_and_its_reason():
    """The hub stops reading a client that sends too fast. The messages it has not read must not
    turn the close into a reset, which would lose the close frame before the client reads it."""
    async def endpoint(ws):
        await ws.accept()
        frames = ws.scope["extensions"][FRAMES]
        for _ in range(20):  # answered one by one, as the hub does
            message = orjson.loads(await ws.receive_text())
            frames.write(text_frame(orjson.dumps({"result": None, "id": message["id"]})))
        frames.cut_off("more than 10 messages a second")

    async with Served(endpoint) as served:
        for _ in range(5):  # a reset depends on timing: give it several chances to show
            async with websockets.connect(f"ws://127.0.0.1:{served.port}/ws") as client:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    for n in range(1000):
                        subscribe = {"method": "SUBSCRIBE", "params": ["trades@X"], "id": n}
                        await client.send(orjson.dumps(subscribe).decode())
                    while True:
                        await asyncio.wait_for(client.recv(), 10)
            assert closed.value.rcvd is not None, "no close frame: the connection was reset"
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "more than 10 messages a second")


async def test_a_client_that_does_not_answer_pings_is_dropped_and_one_that_does_stays():
    async def endpoint(ws):
        await ws.accept()
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass

    async with Served(endpoint, ping=0.3) as served:
        silent = handshake(served.port)
        async with websockets.connect(f"ws://127.0.0.1:{served.port}/ws") as answering:  # pongs by itself
            data = await asyncio.wait_for(asyncio.to_thread(read_to_end, silent, 10.0), 10)
            assert b"\x89" in data  # it was pinged, did not answer, and the server closed on it
            silent.close()
            await asyncio.sleep(1.0)  # three ping intervals
            await answering.send("still here")  # would raise ConnectionClosed had it been dropped
            assert answering.state is websockets.protocol.State.OPEN


async def test_a_client_that_stops_reading_and_answering_is_dropped_though_its_buffer_is_full():
    told = asyncio.Event()

    async def endpoint(ws):
        await ws.accept()
        frames = ws.scope["extensions"][FRAMES]
        chunk = b"".join(text_frame(b'"' + b"x" * 1000 + b'"') for _ in range(100))
        while (buffered := frames.write(chunk)) is not None and buffered < 1 << 20:
            pass  # under the hub's limit, but more than the socket takes: a plain close would wait
        try:
            await ws.receive_text()
        except WebSocketDisconnect:
            told.set()

    async with Served(endpoint, ping=0.3) as served:
        silent = handshake(served.port)
        await asyncio.wait_for(told.wait(), 10)  # ping, no pong, dropped: the app hears of it
        silent.close()
