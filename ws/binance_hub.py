"""Binance's spot streams and user data streams, fed by the hub (ws/hub.py) with decoded records.

Streams are named as on Binance: `<symbol>@trade`, `@aggTrade`, `@depth` (and `@100ms`, `@1000ms`:
diffs whose U/u follow /api/v3/depth's lastUpdateId), `@depth5/10/20` (and `@100ms`, `@1000ms`),
`@kline_<interval>`, `@ticker`, `@miniTicker`, `@bookTicker`, symbols in lower case. A raw
connection (/ws/...) gets each event as it is; a combined one (/stream?streams=...) gets
{"stream", "data"}. A user data connection (/ws/<listenKey>) gets executionReport,
outboundAccountPosition and balanceUpdate for the listen key's account only.

Partial books and book tickers need the book itself: for a market someone watches that way it is
loaded from the read side's depth snapshot (Cassandra), followed with the diffs, and loaded again
if a diff is missing.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from api.store import Store
from exchange.config import Settings
from schemas.codec import codec
from streams.depth_book import DepthBook, DepthGap

from . import binance_payloads as payloads
from .connection import text_frame

log = logging.getLogger("exchange.ws.binance")
# A stream's update speed (none, @100ms, @1000ms) only names it here: every kind is sent as the
# engine's changes come, which is never slower than Binance's timers.
SPEEDS = ("", "@100ms", "@1000ms")
DIFF_KINDS = tuple(f"depth{speed}" for speed in SPEEDS)
PARTIAL_KINDS = tuple(f"depth{n}{speed}" for n in (5, 10, 20) for speed in SPEEDS)
KINDS = ("trade", "aggTrade", *DIFF_KINDS, "ticker", "miniTicker", "bookTicker", *PARTIAL_KINDS,
         *(f"kline_{i}" for i in ("1m", "5m", "15m", "1h", "4h", "1d")))
BOOK_KINDS = {"bookTicker", *PARTIAL_KINDS}
MAX_TERMS = 200_000  # open orders whose terms are remembered for their executionReports
TERMS = ("type", "time_in_force", "price", "quantity", "quote_quantity", "post_only", "client_order_id", "created_ts")
TERMS_WAIT_S = 1.0  # the longest an order's reports wait for its terms from the read side


class BinanceFeeds:
    def __init__(self, settings: Settings, hub) -> None:
        self.hub = hub
        self.store = Store(settings)
        self.store_ready = asyncio.Event()
        self.raw: dict[str, set] = {}  # stream -> raw clients
        self.combined: dict[str, set] = {}  # stream -> combined clients
        self.listeners: dict[str, set] = {}  # account -> user data clients
        self.books: dict[str, DepthBook | None] = {}  # market -> its book (None: loading)
        self._waiting: dict[str, list[dict]] = {}  # market -> diffs that came while its book loaded
        self._terms: dict[int, dict] = {}  # order id -> what its first update said
        self._filled: dict[int, tuple[int, int]] = {}  # order id -> (quantity, quote) filled so far
        self._awaiting_terms: dict[int, list[tuple]] = {}  # order id -> its updates held while its terms are read
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        task = asyncio.create_task(self._connect())
        self._tasks.add(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.store.stop()

    async def _connect(self) -> None:
        while True:
            try:
                await self.store.start()
                self.store_ready.set()
                return
            except Exception as exc:  # noqa: BLE001 - Cassandra not up yet: listen keys and books wait
                log.warning("Cassandra not reachable yet (%s); retrying", exc)
                await asyncio.sleep(2)

    # -- names ----------------------------------------------------------------------------

    def market_of(self, stream: str) -> dict | None:
        """The market a valid stream name watches, or None."""
        symbol, _, kind = stream.partition("@")
        if kind not in KINDS or symbol != symbol.lower():
            return None
        for market in self.hub.markets.values():
            if payloads.symbol_of(market).lower() == symbol:
                return market
        return None

    @staticmethod
    def stream(market: dict, kind: str) -> str:
        return f"{payloads.symbol_of(market).lower()}@{kind}"

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(self, client, stream: str, combined: bool) -> None:
        (self.combined if combined else self.raw).setdefault(stream, set()).add(client)
        kind = stream.partition("@")[2]
        if kind in BOOK_KINDS:
            market = self.market_of(stream)
            if market is not None and market["symbol"] not in self.books:
                self._load_book(market["symbol"])

    def unsubscribe(self, client, stream: str) -> None:
        for table in (self.raw, self.combined):
            clients = table.get(stream)
            if clients is not None:
                clients.discard(client)
                if not clients:
                    del table[stream]

    def listen(self, client, account: str) -> None:
        self.listeners.setdefault(account, set()).add(client)

    def unlisten(self, client) -> None:
        if client.account is not None:
            clients = self.listeners.get(client.account, set())
            clients.discard(client)
            if not clients:
                self.listeners.pop(client.account, None)

    def forget(self, client) -> None:
        for stream in list(client.streams):
            self.unsubscribe(client, stream)
        self.unlisten(client)

    def watched(self, market: dict, kinds) -> bool:
        return any(self.stream(market, kind) in self.raw or self.stream(market, kind) in self.combined
                   for kind in kinds)

    def _publish(self, stream: str, data: dict) -> None:
        raw, combined = self.raw.get(stream), self.combined.get(stream)
        if raw:
            self.hub._queue(raw, text_frame(orjson.dumps(data)))
        if combined:
            self.hub._queue(combined, text_frame(orjson.dumps({"stream": stream, "data": data})))

    def _user(self, account: str, data: dict) -> None:
        """To raw stream clients as it is, to combined ones as {"stream": <listenKey>, "data"}, to
        WebSocket API subscribers as {"subscriptionId", "event"}."""
        clients = self.listeners.get(account)
        if not clients:
            return
        raw = [c for c in clients if getattr(c, "subscription_id", None) is None and not c.combined]
        if raw:
            self.hub._queue(raw, text_frame(orjson.dumps(data)))
        for client in clients:
            if getattr(client, "subscription_id", None) is not None:
                self.hub._queue([client], text_frame(orjson.dumps({"subscriptionId": client.subscription_id,
                                                                   "event": data})))
            elif client.combined:
                self.hub._queue([client], text_frame(orjson.dumps({"stream": client.listen_key, "data": data})))

    # -- events -----------------------------------------------------------------------------

    def on_trade(self, trade: dict, market: dict, now: int) -> None:
        self._publish(self.stream(market, "trade"), payloads.trade(trade, market, now))
        self._publish(self.stream(market, "aggTrade"), payloads.agg_trade(trade, market, now))

    def on_depth(self, update: dict, market: dict, now: int) -> None:
        """Every update, full books included (they keep the hub's books whole); diffs to clients."""
        symbol = market["symbol"]
        if not update["full"] and self.watched(market, DIFF_KINDS):
            event = payloads.depth_update(update, market, now)
            for kind in DIFF_KINDS:
                self._publish(self.stream(market, kind), event)
        if symbol not in self.books:
            return
        book = self.books[symbol]
        if book is None:
            self._waiting.setdefault(symbol, []).append(update)
            return
        try:
            changed = book.apply(update)
        except DepthGap:
            self._load_book(symbol)  # a diff went missing (the hub fell behind): read the book again
            return
        if changed:
            self._publish_book(book, market)

    def _publish_book(self, book: DepthBook, market: dict) -> None:
        self._publish(self.stream(market, "bookTicker"), payloads.book_ticker(book, market))
        for levels in (5, 10, 20):
            for speed in SPEEDS:
                stream = self.stream(market, f"depth{levels}{speed}")
                if stream in self.raw or stream in self.combined:
                    self._publish(stream, payloads.partial_depth(book, market, levels))

    def _load_book(self, symbol: str) -> None:
        self.books[symbol] = None
        self._waiting.setdefault(symbol, [])
        task = asyncio.create_task(self._read_book(symbol))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_book(self, symbol: str) -> None:
        await self.store_ready.wait()
        while True:
            try:
                row = await self.store.one("depth", symbol)
                break
            except Exception as exc:  # noqa: BLE001 - Cassandra away: keep trying
                log.warning("reading %s's depth snapshot failed: %s", symbol, exc)
                await asyncio.sleep(1)
        book = DepthBook(symbol) if row is None else DepthBook.from_snapshot(
            codec.decode_as("exchange.DepthSnapshot", row.snapshot))
        waiting = self._waiting.pop(symbol, [])
        try:
            for update in waiting:
                book.apply(update)
        except DepthGap:
            await asyncio.sleep(1)  # the snapshot is behind what the hub read: the read side catches up
            self._load_book(symbol)
            return
        self.books[symbol] = book
        market = self.hub.markets.get(symbol)
        if market is not None:
            self._publish_book(book, market)
            self.hub.flush()

    def on_ticker(self, ticker: dict, market: dict, quote: dict, now: int) -> None:
        self._publish(self.stream(market, "ticker"), payloads.ticker(ticker, market, quote, now))
        self._publish(self.stream(market, "miniTicker"), payloads.mini_ticker(ticker, market, quote, now))

    def on_candle(self, candle: dict, market: dict, quote: dict, now: int) -> None:
        stream = self.stream(market, f"kline_{candle['interval']}")
        if stream in self.raw or stream in self.combined:
            self._publish(stream, payloads.kline(candle, market, quote, now))

    def on_order_update(self, update: dict, market: dict, quote: dict, now: int) -> None:
        """Called for every new order update (terms are remembered whoever listens).

        An order the hub knows no terms of (placed before the hub started) has them read from the
        read side first; its updates wait meanwhile, so its reports keep their order."""
        order_id = update["order_id"]
        if update.get("type") is not None:
            if len(self._terms) >= MAX_TERMS:
                self._terms.clear()
                self._filled.clear()
            self._terms[order_id] = {k: update.get(k) for k in TERMS}
        held = self._awaiting_terms.get(order_id)
        if held is not None:
            held.append((update, market, quote, now))
        elif update["account"] in self.listeners and order_id not in self._terms:
            self._awaiting_terms[order_id] = [(update, market, quote, now)]
            task = asyncio.create_task(self._read_terms(update["account"], order_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._report(update, market, quote, now)

    def _report(self, update: dict, market: dict, quote: dict, now: int) -> None:
        order_id = update["order_id"]
        if update["account"] in self.listeners:
            last = self._filled.get(order_id, (0, 0))
            for report in payloads.execution_reports(update, self._terms.get(order_id, {}), last, market, quote, now):
                self._user(update["account"], report)
        if update["status"] in ("NEW", "PARTIALLY_FILLED"):
            self._filled[order_id] = (update["filled_quantity"], update["filled_quote"])
        else:
            self._terms.pop(order_id, None)
            self._filled.pop(order_id, None)

    async def _read_terms(self, account: str, order_id: int) -> None:
        """The order's terms from the read side (which had its first update before this hub
        started), then its reports; without them after a few tries, its reports as they are."""
        try:
            await asyncio.wait_for(self.store_ready.wait(), TERMS_WAIT_S)
            for _ in range(5):
                row = await self.store.one("order", account, order_id)
                if row is not None:
                    self._terms.setdefault(order_id, {k: getattr(row, k) for k in TERMS})
                    break
                await asyncio.sleep(TERMS_WAIT_S / 5)
        except Exception as exc:  # noqa: BLE001 - Cassandra away: report without the terms
            log.warning("reading the terms of order %s failed: %s", order_id, exc)
        for held in self._awaiting_terms.pop(order_id, []):
            self._report(*held)
        self.hub.flush()

    def on_balances(self, update: dict, assets: dict, now: int) -> None:
        if update["account"] in self.listeners:
            self._user(update["account"], payloads.account_position(update, assets, now))

    def on_command_result(self, result: dict, assets: dict, now: int) -> None:
        if result["account"] in self.listeners:
            change = payloads.balance_change(result, assets, now)
            if change is not None:
                self._user(result["account"], change)

    async def account_of(self, listen_key: str) -> str | None:
        """The account a listen key streams, if it is alive."""
        await asyncio.wait_for(self.store_ready.wait(), 10)
        row = await self.store.one("listen_key", listen_key)
        return None if row is None else row.account
