"""One WebSocket connection: its subscriptions, what waits to be sent to it, and the rules it must keep.

- SUBSCRIBE / UNSUBSCRIBE {"method", "params": [streams], "id"} answered {"result": null, "id"};
  AUTH {"params": ["<JWT>"]} unlocks the private streams `orders`, `balances`, `withdrawals` and
  `notifications` (own only).
  Streams are the exchange's (`trades@SOL_USDC`, with its payloads) or Binance's (`solusdc@trade`,
  with Binance's events: ws/binance_hub.py), raw or, on /stream, wrapped as {"stream", "data"}.
  A listen key among Binance's streams adds its account's user data (binance-connector's way).
- Errors come in the exchange's shape {"error": {"code": "bad_request", "message"}} on /ws, and in
  Binance's {"error": {"code": 2, "msg": "Invalid request: ..."}} on Binance's endpoints (/ws/...,
  /stream) or for a request that names Binance's streams: clients such as ccxt.pro read only theirs.
- At most MAX_STREAMS subscriptions, and at most RATE inbound messages a second (a burst of
  BURST); beyond, the connection is closed with a reason. A malformed message gets an error reply.
- The hub queues ready-made frames on `pending` and calls `flush` once per batch it reads. What
  the socket cannot take at once waits in the connection's buffer; a client that lets that
  buffer pass WS_CLIENT_BUFFER bytes is disconnected with "slow consumer" instead of holding
  the hub's memory (or anyone else's messages) hostage.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.security import issued_ms, read_token, signed_out

from . import binance_user_stream
from .binance_user_stream import LISTEN_KEY
from .connection import FRAMES, FrameWriter, text_frame

BUFFER_LIMIT = 1 << 20  # bytes
MAX_STREAMS = 100
RATE, BURST = 10.0, 20.0  # inbound messages per second
PRIVATE = ("orders", "balances", "withdrawals", "notifications")
INVALID_REQUEST, INVALID_JSON = 2, 3  # Binance's stream error codes


class Client:
    def __init__(self, websocket: WebSocket, hub, secret: str, buffer_limit: int = BUFFER_LIMIT,
                 combined: bool = False, binance: bool = False) -> None:
        self.ws, self.hub, self.secret, self.buffer_limit = websocket, hub, secret, buffer_limit
        self.combined = combined  # Binance's streams come wrapped in {"stream", "data"} (/stream)
        self.binance = binance  # on one of Binance's endpoints: errors in Binance's shape
        self.listen_key: str | None = None  # a user data stream's key, on a Binance stream connection
        self._tasks: set[asyncio.Task] = set()
        self.frames: FrameWriter = websocket.scope["extensions"][FRAMES]
        self.pending: list[bytes] = []  # frames of the batch the hub is reading
        self.streams: set[str] = set()
        self.private_streams: set[str] = set()
        self.account: str | None = None
        self.token_ms = 0  # when the token it authenticated with was issued (a sign-out may void it)
        self.closing: str | None = None
        self._tokens, self._last = BURST, time.monotonic()

    def flush(self) -> int:
        """Send what is pending in one write; how many messages went out."""
        count = len(self.pending)
        buffered = self.frames.write(b"".join(self.pending))
        self.pending.clear()
        if buffered is None:
            return 0
        if buffered > self.buffer_limit:
            self.cut_off(f"slow consumer: more than {self.buffer_limit:,} bytes behind")
        return count

    def cut_off(self, reason: str) -> None:
        if self.closing is None:
            self.closing = reason
            self.hub.clients_cut_off += 1
            self.hub.forget(self)
            self.frames.cut_off(reason)

    async def serve(self, streams: list[str] = (), account: str | None = None) -> None:
        """Serve until the client leaves; `streams` (Binance's names) and a user data stream's
        `account` are followed from the start, as /ws/<streams> and /ws/<listenKey> ask."""
        await self.ws.accept()
        for stream in streams:
            self._follow(stream)
        if account is not None:
            self.account = account
            self.hub.binance.listen(self, account)
        try:
            while self.closing is None:
                try:
                    text = await self.ws.receive_text()
                except KeyError:  # a binary frame: Starlette finds no text in it
                    self._reply_error(None, "binary frames are not accepted; send JSON text", self.binance,
                                      INVALID_JSON)
                    continue
                if not self._allowed():
                    self.cut_off(f"more than {RATE:.0f} messages a second")
                    break
                self._handle(text)
        except WebSocketDisconnect:
            pass
        finally:
            for task in self._tasks:
                task.cancel()
            self.hub.forget(self)

    def _allowed(self) -> bool:
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._last) * RATE)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _handle(self, text: str) -> None:
        binance = self.binance
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._reply_error(None, "not valid JSON", binance, INVALID_JSON)
        if not isinstance(message, dict):
            return self._reply_error(None, "a message is a JSON object", binance)
        ident = message.get("id")
        if ident is not None and not isinstance(ident, (int, str)):
            return self._reply_error(None, "id must be a number or a string", binance)
        method, params = message.get("method"), message.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return self._reply_error(ident, "params must be a list of strings", binance)
        binance = binance or any(self._binance_name(p) for p in params)
        if method == "SUBSCRIBE":
            if any(LISTEN_KEY.fullmatch(p) for p in params):
                return self._start(self._subscribe_user_data(ident, params))
            return self._subscribe(ident, params, binance)
        if method == "UNSUBSCRIBE":
            for stream in params:
                if stream == self.listen_key:
                    self.hub.binance.unlisten(self)
                    self.listen_key = None
                self.streams.discard(stream)
                self.private_streams.discard(stream)
                self.hub.unsubscribe(self, stream)
                self.hub.binance.unsubscribe(self, stream)
            return self._reply(ident, None)
        if method == "AUTH":
            claims = read_token(self.secret, params[0]) if len(params) == 1 else None
            if claims is None:
                return self._reply_error(ident, "AUTH needs one valid, unexpired token")
            if signed_out(claims, self.hub.reference.sign_outs):
                return self._reply_error(ident, "this token was signed out; log in again")
            if self.account is not None and self.account != claims["sub"]:
                return self._reply_error(ident, "this connection is authenticated as another account")
            self.account = claims["sub"]
            self.token_ms = max(self.token_ms, issued_ms(claims))  # the newest token it showed
            self.hub.follow_account(self, self.account)
            return self._reply(ident, {"account": self.account})
        if method == "LIST_SUBSCRIPTIONS":
            listening = [self.listen_key] if self.listen_key else []
            return self._reply(ident, sorted(self.streams | self.private_streams) + listening)
        return self._reply_error(ident, f"unknown method {str(method)[:40]!r}", binance)

    def _subscribe(self, ident, streams: list[str], binance: bool) -> None:
        for stream in streams:
            if stream in PRIVATE:
                if self.account is None:
                    return self._reply_error(ident, f"{stream} is private: send AUTH first")
            elif not self.valid(stream):
                return self._reply_error(ident, f"unknown stream {stream[:60]!r}", binance)
        if len(self.streams | self.private_streams | set(streams)) > MAX_STREAMS:
            return self._reply_error(ident, f"at most {MAX_STREAMS} subscriptions per connection", binance)
        for stream in streams:
            if stream in PRIVATE:
                self.private_streams.add(stream)
            else:
                self._follow(stream)
        self._reply(ident, None)

    async def _subscribe_user_data(self, ident, params: list[str]) -> None:
        """SUBSCRIBE naming a listen key (and perhaps streams): the key's account is looked up
        (Cassandra) before the reply, which comes once everything asked for is followed."""
        [key, *more] = [p for p in params if LISTEN_KEY.fullmatch(p)]
        streams = [p for p in params if not LISTEN_KEY.fullmatch(p)]
        if more or (self.listen_key is not None and self.listen_key != key):
            return self._reply_error(ident, "one listen key per connection", True)
        try:
            account = await self.hub.binance.account_of(key)
        except Exception:  # noqa: BLE001 - Cassandra away: the client may ask again
            return self._reply_error(ident, "listen keys cannot be checked now; try again", True)
        if account is None:
            return self._reply_error(ident, "This listenKey does not exist.", True)
        if self.account is not None and self.account != account:
            return self._reply_error(ident, "this connection follows another account", True)
        for stream in streams:  # checked before anything is followed, so a refusal changes nothing
            if not self.valid(stream):
                return self._reply_error(ident, f"unknown stream {stream[:60]!r}", True)
        if self.listen_key is None:
            self.account, self.listen_key = account, key
            self.hub.binance.listen(self, account)
            self._start(binance_user_stream.watch(self, key))
        self._subscribe(ident, streams, True)

    def _start(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _binance_name(name: str) -> bool:
        """Binance names streams in lower case (solusdc@trade) and keys in mixed case; the
        exchange's own names carry a market's upper-case symbol (trades@SOL_USDC)."""
        return bool(LISTEN_KEY.fullmatch(name)) or (name not in PRIVATE and name == name.lower())

    def valid(self, stream: str) -> bool:
        """The exchange's own stream names (trades@SOL_USDC) or Binance's (solusdc@trade)."""
        return self.hub.valid_stream(stream) or self.hub.binance.market_of(stream) is not None

    def _follow(self, stream: str) -> None:
        self.streams.add(stream)
        if self.hub.binance.market_of(stream) is not None:
            self.hub.binance.subscribe(self, stream, self.combined)
        else:
            self.hub.subscribe(self, stream)

    # Replies are written at once: the hub fills `pending` and flushes it without awaiting, so a
    # reply can never land in the middle of a batch.
    def _reply(self, ident, result) -> None:
        self.frames.write(text_frame(orjson.dumps({"result": result, "id": ident})))

    def _reply_error(self, ident, message: str, binance: bool = False, code: int = INVALID_REQUEST) -> None:
        if binance:
            prefix = "Invalid JSON" if code == INVALID_JSON else "Invalid request"
            error: dict = {"code": code, "msg": f"{prefix}: {message}"}
        else:
            error = {"code": "bad_request", "message": message}
        self.frames.write(text_frame(orjson.dumps({"error": error, "id": ident})))
