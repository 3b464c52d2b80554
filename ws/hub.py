"""Fan-out from Kafka to WebSocket clients.

The hub reads every partition of the public and private topics itself, with no consumer group
(and follows assets and markets with exchange/reference_feed.py),
so any number of hubs can run behind a load balancer, each seeing everything. Each message
becomes one WebSocket frame, built once (ws/connection.py says why), queued on every client
subscribed to its stream; after each batch read from Kafka, every client that got something is
sent all of it in one write. Nothing here awaits a client: one that stops reading fills its own
buffer and is cut off (ws/client.py), and nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from aiokafka import AIOKafkaConsumer

from exchange.config import Settings
from exchange.kafka_io import tail
from exchange.reference_feed import ReferenceFeed
from schemas.codec import DecodeError, codec
from schemas.records import SignOut
from schemas.topics import BALANCES, CANDLES, COMMAND_RESULTS, DEPTH, NOTIFICATIONS, ORDER_UPDATES, TICKERS, TRADES

from . import payloads
from .binance_hub import BinanceFeeds
from .connection import text_frame
from .replays import LastForwarded

log = logging.getLogger("exchange.ws.hub")
FEEDS = (TRADES, DEPTH, TICKERS, CANDLES, ORDER_UPDATES, BALANCES, COMMAND_RESULTS, NOTIFICATIONS)


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reference = ReferenceFeed(settings, sign_outs=True, on_sign_out=self._signed_out)  # followed
        self.assets, self.markets = self.reference.assets, self.reference.markets
        self._reference_task: asyncio.Task | None = None
        self.public: dict[str, set] = {}  # stream -> clients
        self.private: dict[str, set] = {}  # account -> clients
        self.delivered = 0
        self.clients_cut_off = 0
        self._touched: list = []  # clients with frames pending in the batch being read
        # Sequence numbers already forwarded: a worker's replay after a crash is not shown twice.
        self._trades, self._depth, self._orders = LastForwarded(), LastForwarded(), LastForwarded()
        self._notifications = LastForwarded()  # by id: the notifier sends one again after a crash
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self.binance = BinanceFeeds(settings, self)  # Binance's streams (ws/binance_hub.py)

    async def start(self) -> None:
        self._reference_task = asyncio.create_task(self.reference.run())
        await self.reference.ready.wait()
        await self.binance.start()
        self._consumer = await tail(self.settings, FEEDS, fetch_max_wait_ms=10)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in (self._task, self._reference_task):
            if task is not None:
                task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
        await self.binance.stop()

    def valid_stream(self, stream: str) -> bool:
        kind, _, symbol = stream.partition("@")
        return symbol in self.markets and (kind in ("trades", "depth", "ticker") or
                                           kind in {f"kline_{i}" for i in ("1m", "5m", "15m", "1h", "4h", "1d")})

    def subscribe(self, client, stream: str) -> None:
        self.public.setdefault(stream, set()).add(client)

    def unsubscribe(self, client, stream: str) -> None:
        clients = self.public.get(stream)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self.public[stream]

    def follow_account(self, client, account: str) -> None:
        self.private.setdefault(account, set()).add(client)

    def _signed_out(self, sign_out: SignOut) -> None:
        """Close the account's connections authenticated by a token the sign-out voids."""
        for client in list(self.private.get(sign_out["account"], ())):
            if client.token_ms < sign_out["before_ms"]:
                client.cut_off("signed out: the password changed or the account signed out; log in again")

    def forget(self, client) -> None:
        self.binance.forget(client)
        for stream in list(client.streams):
            self.unsubscribe(client, stream)
        if client.account is not None:
            clients = self.private.get(client.account, set())
            clients.discard(client)
            if not clients:
                self.private.pop(client.account, None)

    async def _run(self) -> None:
        while True:
            try:
                # Fewer records a read, fewer frames waiting per client; more, fewer writes. At
                # low rates a read brings one record or two, under load it amortizes the writes.
                batches = await self._consumer.getmany(timeout_ms=1000, max_records=100)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Kafka away: keep trying
                log.warning("reading Kafka failed: %s", exc)
                await asyncio.sleep(1)
                continue
            now = int(time.time() * 1000)
            for tp, records in batches.items():
                for record in records:
                    try:
                        self._on(tp.topic, record.key, record.value, now)
                    except (DecodeError, KeyError) as exc:
                        log.warning("unreadable message on %s: %s", tp.topic, exc)
            self.flush()

    def flush(self) -> None:
        """Send every client what was queued for it since the last flush, in one write each."""
        touched, self._touched = self._touched, []
        for client in touched:
            self.delivered += client.flush()

    def _queue(self, clients, frame: bytes) -> None:
        touched = self._touched
        for client in clients:  # the hub's hot loop: one list append per message and client
            pending = client.pending
            if not pending:
                touched.append(client)
            pending.append(frame)

    def _publish(self, stream: str, data: dict) -> None:
        clients = self.public.get(stream)
        if clients:
            self._queue(clients, text_frame(orjson.dumps({"stream": stream, "data": data})))

    def _private(self, account: str, stream: str, data: dict) -> None:
        clients = self.private.get(account)
        if clients:
            self._queue([c for c in clients if stream in c.private_streams],
                        text_frame(orjson.dumps({"stream": stream, "data": data})))

    def _on(self, topic: str, key: bytes | None, value: bytes | None, now: int) -> None:
        binance = self.binance
        if topic == BALANCES.name:  # keyed by account: decoded only when someone follows it here
            if key is None or (key.decode() not in self.private and key.decode() not in binance.listeners):
                return
            update = codec.decode_as(BALANCES.record, value)
            if update["account"] in self.private:
                self._private(update["account"], "balances", payloads.balance_update(update, self.assets, now))
            binance.on_balances(update, self.assets, now)
            return
        if topic == COMMAND_RESULTS.name:  # keyed by account; only money movements are shown
            if key is not None and (key.decode() in self.private or key.decode() in binance.listeners):
                result = codec.decode_as(COMMAND_RESULTS.record, value)
                change = payloads.withdrawal(result, self.assets, now)
                if change is not None and result["account"] in self.private:
                    self._private(result["account"], "withdrawals", change)
                binance.on_command_result(result, self.assets, now)
            return
        if topic == NOTIFICATIONS.name:  # keyed by account: decoded only when someone follows it here
            if key is not None and key.decode() in self.private:
                note = codec.decode_as(NOTIFICATIONS.record, value)
                if self._notifications.is_new(note["id"], 0):
                    self._private(note["account"], "notifications", payloads.notification(note))
            return
        symbol = key.decode()
        market = self.markets.get(symbol)
        if market is None:
            return
        if topic == TRADES.name:
            v1 = f"trades@{symbol}" in self.public
            if v1 or binance.watched(market, ("trade", "aggTrade")):
                for trade in codec.decode_as(TRADES.record, value)["trades"]:
                    if self._trades.is_new(symbol, trade["trade_id"]):
                        if v1:
                            self._publish(f"trades@{symbol}", payloads.trade(trade, market, now))
                        binance.on_trade(trade, market, now)
        elif topic == DEPTH.name:
            v1 = f"depth@{symbol}" in self.public
            if v1 or symbol in binance.books or binance.watched(market, ("depth", "depth@100ms")):
                update = codec.decode_as(DEPTH.record, value)
                # A replayed update may overlap the last one ("U" at or below its "u"): the levels
                # are quantities, not differences, so applying it is right, as the depth
                # protocol says. Only one wholly seen before is dropped. Full books are for readers
                # that lost updates (clients resync from the REST snapshot), and keep the hub's own
                # books whole.
                if update["full"]:
                    binance.on_depth(update, market, now)
                elif self._depth.is_new(symbol, update["last_update_id"]):
                    if v1:
                        self._publish(f"depth@{symbol}", payloads.depth(update, market, now))
                    binance.on_depth(update, market, now)
        elif topic == TICKERS.name:
            v1 = f"ticker@{symbol}" in self.public
            if v1 or binance.watched(market, ("ticker", "miniTicker")):
                quote = self.assets[market["quote"]]
                ticker = codec.decode_as(TICKERS.record, value)
                if v1:
                    self._publish(f"ticker@{symbol}", payloads.ticker(ticker, market, quote, now))
                binance.on_ticker(ticker, market, quote, now)
        elif topic == CANDLES.name:
            candle = codec.decode_as(CANDLES.record, value)
            stream = f"kline_{candle['interval']}@{symbol}"
            if stream in self.public:
                self._publish(stream, payloads.kline(candle, market, now))
            binance.on_candle(candle, market, self.assets[market["quote"]], now)
        elif topic == ORDER_UPDATES.name and (self.private or binance.listeners):
            # Read only while someone listens: the Binance feeds read the terms of an order placed
            # before that from the read side.
            quote = self.assets[market["quote"]]
            for update in codec.decode_as(ORDER_UPDATES.record, value)["updates"]:
                if self._orders.is_new(update["order_id"], update["seq"]):
                    if update["account"] in self.private:
                        self._private(update["account"], "orders", payloads.order_update(update, market, quote, now))
                    binance.on_order_update(update, market, quote, now)
