"""One WebSocket connection: its subscriptions, its bounded queue, and the rules it must keep.

- SUBSCRIBE / UNSUBSCRIBE {"method", "params": [streams], "id"} answered {"result": null, "id"};
  AUTH {"params": ["<JWT>"]} unlocks the private streams `orders` and `balances` (own only).
- At most MAX_STREAMS subscriptions, and at most RATE inbound messages a second (a burst of
  BURST); beyond, the connection is closed with a reason. A malformed message gets an error reply.
- Outbound frames wait in a queue of WS_CLIENT_QUEUE (default QUEUE_SIZE) messages; a client
  that lets it fill is disconnected with "slow consumer" instead of slowing the hub.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.security import read_token

QUEUE_SIZE = 2000
MAX_STREAMS = 100
RATE, BURST = 10.0, 20.0  # inbound messages per second
PRIVATE = ("orders", "balances")
POLICY_VIOLATION = 1008
CLOSE_WAIT = 3.0  # seconds a closing handshake may take before the connection is dropped


class Client:
    def __init__(self, websocket: WebSocket, hub, secret: str, queue_size: int = QUEUE_SIZE) -> None:
        self.ws, self.hub, self.secret = websocket, hub, secret
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.streams: set[str] = set()
        self.private_streams: set[str] = set()
        self.account: str | None = None
        self.closing: str | None = None
        self._tokens, self._last = BURST, time.monotonic()

    def offer(self, frame: str) -> int:
        """Queue a frame without waiting; 1 if queued."""
        if self.closing is not None:
            return 0
        try:
            self.queue.put_nowait(frame)
            return 1
        except asyncio.QueueFull:
            self.closing = f"slow consumer: more than {self.queue.maxsize} messages behind"
            return 0

    async def serve(self) -> None:
        await self.ws.accept()
        sender = asyncio.create_task(self._send_loop())
        try:
            while self.closing is None:
                try:
                    text = await asyncio.wait_for(self.ws.receive_text(), timeout=1.0)
                except asyncio.TimeoutError:
                    continue
                except (KeyError, RuntimeError):  # a binary frame: receive_text finds no text
                    await self._reply_error(None, "binary frames are not accepted; send JSON text")
                    continue
                if not self._allowed():
                    self.closing = f"more than {RATE:.0f} messages a second"
                    break
                await self._handle(text)
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.forget(self)
            sender.cancel()
            if self.closing is not None:
                # The close handshake can wait on a socket the client no longer reads, or on a
                # send cancelled half-way; past CLOSE_WAIT the handler returns and the server drops
                # the connection instead of keeping it open for good.
                try:
                    await asyncio.wait_for(self.ws.close(code=POLICY_VIOLATION, reason=self.closing[:120]),
                                           CLOSE_WAIT)
                except (RuntimeError, asyncio.TimeoutError):
                    pass

    async def _send_loop(self) -> None:
        try:
            while self.closing is None:
                frames = [await self.queue.get()]
                while not self.queue.empty() and len(frames) < 500:  # all that waits, in one turn
                    frames.append(self.queue.get_nowait())
                for frame in frames:
                    await self.ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            pass

    def _allowed(self) -> bool:
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._last) * RATE)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _handle(self, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return await self._reply_error(None, "not valid JSON")
        if not isinstance(message, dict):
            return await self._reply_error(None, "a message is a JSON object")
        ident = message.get("id")
        if ident is not None and not isinstance(ident, (int, str)):
            return await self._reply_error(None, "id must be a number or a string")
        method, params = message.get("method"), message.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return await self._reply_error(ident, "params must be a list of strings")
        if method == "SUBSCRIBE":
            return await self._subscribe(ident, params)
        if method == "UNSUBSCRIBE":
            for stream in params:
                self.streams.discard(stream)
                self.private_streams.discard(stream)
                self.hub.unsubscribe(self, stream)
            return await self._reply(ident, None)
        if method == "AUTH":
            claims = read_token(self.secret, params[0]) if len(params) == 1 else None
            if claims is None:
                return await self._reply_error(ident, "AUTH needs one valid, unexpired token")
            if self.account is not None and self.account != claims["sub"]:
                return await self._reply_error(ident, "this connection is authenticated as another account")
            self.account = claims["sub"]
            self.hub.follow_account(self, self.account)
            return await self._reply(ident, {"account": self.account})
        if method == "LIST_SUBSCRIPTIONS":
            return await self._reply(ident, sorted(self.streams | self.private_streams))
        return await self._reply_error(ident, f"unknown method {str(method)[:40]!r}")

    async def _subscribe(self, ident, streams: list[str]) -> None:
        for stream in streams:
            if stream in PRIVATE:
                if self.account is None:
                    return await self._reply_error(ident, f"{stream} is private: send AUTH first")
            elif not self.hub.valid_stream(stream):
                return await self._reply_error(ident, f"unknown stream {stream[:60]!r}")
        if len(self.streams | self.private_streams | set(streams)) > MAX_STREAMS:
            return await self._reply_error(ident, f"at most {MAX_STREAMS} subscriptions per connection")
        for stream in streams:
            if stream in PRIVATE:
                self.private_streams.add(stream)
            else:
                self.streams.add(stream)
                self.hub.subscribe(self, stream)
        await self._reply(ident, None)

    async def _reply(self, ident, result) -> None:
        self.offer(orjson.dumps({"result": result, "id": ident}).decode())

    async def _reply_error(self, ident, message: str) -> None:
        self.offer(orjson.dumps({"error": {"code": "bad_request", "message": message}, "id": ident}).decode())
