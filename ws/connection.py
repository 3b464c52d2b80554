"""The hub's connections: uvicorn's sans-I/O WebSocket protocol, with a door for ready-made frames.

Fan-out is the hub's whole cost. Through ASGI, every message to every client is one
`websocket.send` event, framed anew by the server and awaited: about 15 µs of CPU each, so 100,000
messages a second would need one and a half cores for sending alone. But a server's frames are
not masked, so a message's frame is the same bytes for every client: the hub builds each frame
once and gives each client, once per batch read from Kafka, everything it gets in one write.

This protocol offers that to the application as an ASGI scope extension, `exchange.frames`: a
FrameWriter that writes whole frames to the connection's transport and closes the connection
without waiting on a client that no longer reads. Everything else (the handshake, what the client
sends, pings, the close handshake) stays uvicorn's.

It subclasses `uvicorn.protocols.websockets.websockets_sansio_impl.WebSocketsSansIOProtocol`
and uses its `transport`, `conn`, `queue`, `close_sent`, `disconnected`, `close_timer`,
`read_paused` and `keepalive_timeout`: uvicorn internals, listed in docs/faust-notes.md. It relies
on uvicorn discarding what a client sends once `close_sent` is set, and closing the transport
when the client's close frame arrives while a `close_timer` is set.
"""

from __future__ import annotations

import struct

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

FRAMES = "exchange.frames"
POLICY_VIOLATION = 1008
CUT_OFF_GRACE = 30.0  # seconds a cut-off client has to read what it was sent before it is dropped


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame (RFC 6455 section 5.2); payload is UTF-8 JSON."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class FrameWriter:
    """What the application finds under `scope["extensions"]["exchange.frames"]`."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def write(self, frames: bytes) -> int | None:
        """Send whole frames; the bytes this connection still has waiting to go, or None once it closes."""
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected or not protocol.handshake_complete:
            return None
        protocol.transport.write(frames)
        return protocol.transport.get_write_buffer_size()

    def cut_off(self, reason: str) -> None:
        """Close with 1008 and `reason` now, behind whatever was already sent.

        An ASGI close waits until the client has read enough to make room, which a client that
        stopped reading never does. Here the close frame goes at the end of what is buffered and
        the application's next receive is the disconnect. The server then only half-closes (FIN
        once the buffer has drained) and goes on reading, dropping what the client sends: a socket
        closed with the client's messages unread would answer with a reset, and the client would
        lose the close frame and its reason (a client cut off for flooding has many in flight).
        The connection ends when the client answers the close or hangs up, or after CUT_OFF_GRACE.
        """
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected:
            return
        reason = reason.encode()[:120].decode("utf-8", "ignore")  # a close reason fits in a control frame
        protocol.conn.send_close(POLICY_VIOLATION, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": POLICY_VIOLATION, "reason": reason})
        if protocol.read_paused:
            protocol.read_paused = False
            protocol.transport.resume_reading()
        protocol.transport.write_eof()
        # uvicorn ends the connection when the client's close frame comes back (it closes the
        # transport if a close timer is set), or when the client hangs up.
        protocol.close_timer = protocol.loop.call_later(CUT_OFF_GRACE, protocol.transport.abort)


class FanoutProtocol(WebSocketsSansIOProtocol):
    """uvicorn's protocol, plus a FrameWriter in the scope of every accepted handshake."""

    def handle_connect(self, event) -> None:
        super().handle_connect(event)
        # The scope exists only if the handshake went through; the application's task that reads
        # it has been created but not yet run, so it sees the extension.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][FRAMES] = FrameWriter(self)

    def keepalive_timeout(self) -> None:
        # uvicorn closes a client that stopped answering pings with a plain close, which first
        # waits for the client to read everything buffered for it; one that stopped answering
        # has stopped reading too, so its socket would stay open for good.
        super().keepalive_timeout()
        self.transport.abort()
