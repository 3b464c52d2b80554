"""The part of Binance's WebSocket API (/ws-api/v3) that user data needs: `ping`, `time`,
`userDataStream.subscribe.signature` and `userDataStream.unsubscribe`.

Client libraries now take spot user data this way rather than through listen keys: a request
{"id", "method", "params"} is answered {"id", "status", "result"} (or "error": {"code", "msg"}),
and once subscribed, the account's events come as {"subscriptionId", "event"}. Every answer carries
`rateLimits` (the request weight this connection used in the last minute), which the official SDKs
read on every reply. The signature is
the REST API's: HMAC-SHA256 with the API key's secret over the parameters, sorted by name and
form-encoded, without `signature` (api/binance/params.py checks both).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

import orjson

from api.binance import errors
from api.binance.limits import Window
from api.binance.params import DEFAULT_RECV_WINDOW, KEY_FORMAT, check_signature, check_time, key_account

from .client import Client
from .connection import text_frame

SUBSCRIPTION_ID = 0  # one subscription per connection
WEIGHT = {"ping": 1, "time": 1, "userDataStream.subscribe.signature": 2, "userDataStream.unsubscribe": 2}


class WsApiClient(Client):
    subscription_id: int | None = None
    weight: Window | None = None
    used = 0  # the request weight of the last minute, as of the latest request

    def _handle(self, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._answer(None, error=errors.BinanceError(400, -1100, "Not a valid JSON request."))
        if not isinstance(message, dict) or not isinstance(message.get("params", {}), dict):
            return self._answer(None, error=errors.BinanceError(400, -1100, "A request is a JSON object with "
                                                                            "object params."))
        task = asyncio.get_running_loop().create_task(self._request(message))
        task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def _request(self, message: dict) -> None:
        ident, method, params = message.get("id"), message.get("method"), message.get("params", {})
        self.weight = self.weight or Window(60.0)
        self.used, _ = self.weight.spend("", WEIGHT.get(str(method), 1), 1 << 62)
        try:
            if method == "ping":
                result: dict = {}
            elif method == "time":
                result = {"serverTime": int(time.time() * 1000)}
            elif method == "userDataStream.subscribe.signature":
                result = await self._subscribe(params)
            elif method == "userDataStream.unsubscribe":
                self.hub.binance.forget(self)
                self.subscription_id = None
                result = {}
            else:
                raise errors.BinanceError(400, -1100, f"Unknown method {str(method)[:60]!r}.")
        except errors.BinanceError as error:
            return self._answer(ident, error=error)
        self._answer(ident, result)

    async def _subscribe(self, params: dict) -> dict:
        key_id = str(params.get("apiKey", ""))
        if not KEY_FORMAT.fullmatch(key_id):
            raise errors.key_format()  # before waiting on Cassandra
        binance = self.hub.binance
        await asyncio.wait_for(binance.store_ready.wait(), 10)
        account = await key_account(binance.store, key_id)
        given = params.get("signature")
        if not isinstance(given, str):
            raise errors.mandatory("signature")
        signed = urlencode(sorted((k, v) for k, v in params.items() if k != "signature"))
        check_signature(self.secret, key_id, signed, given)
        try:
            check_time(int(params["timestamp"]), int(params.get("recvWindow", DEFAULT_RECV_WINDOW)))
        except (KeyError, TypeError, ValueError):
            raise errors.mandatory("timestamp") from None
        if self.account is not None and self.account != account:
            raise errors.BinanceError(400, -1100, "This connection is subscribed for another account.")
        self.account = account
        self.subscription_id = SUBSCRIPTION_ID
        binance.listen(self, account)
        return {"subscriptionId": SUBSCRIPTION_ID}

    def _answer(self, ident, result: dict | None = None, error: errors.BinanceError | None = None) -> None:
        if error is not None:
            reply = {"id": ident, "status": error.status, "error": {"code": error.code, "msg": error.msg}}
        else:
            reply = {"id": ident, "status": 200, "result": result}
        reply["rateLimits"] = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                "limit": self.hub.settings.binance_weight_per_minute, "count": self.used}]
        self.frames.write(text_frame(orjson.dumps(reply)))
