"""What the API reads from Kafka: reference data and the outcomes of the commands it sends.

Reference data (and sign-outs) come from exchange/reference_feed.py. Outcomes come from one consumer with no
group (every API process reads every partition, so any of them can answer any client),
positioned at the end of the outcome topics. A placed order's outcome is its state after the
first batch of order updates that names it (NEW, FILLED, REJECTED, ...) or, if the accounts
stage refused it, its command result; whoever waits for it gets it, anything else is dropped.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer

from exchange.config import Settings
from exchange.kafka_io import tail
from exchange.reference_feed import ReferenceFeed
from schemas.codec import DecodeError, codec
from schemas.topics import COMMAND_RESULTS, ORDER_UPDATES

log = logging.getLogger("exchange.api.feeds")


class Feeds:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reference = ReferenceFeed(settings, sign_outs=True)
        self.assets, self.markets = self.reference.assets, self.reference.markets
        self.sign_outs = self.reference.sign_outs
        self._reference_task: asyncio.Task | None = None
        self._by_order: dict[int, asyncio.Future] = {}
        self._by_command: dict[str, asyncio.Future] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._reference_task = asyncio.create_task(self.reference.run())
        await self.reference.ready.wait()
        self._consumer = await tail(self.settings, (ORDER_UPDATES, COMMAND_RESULTS), fetch_max_wait_ms=20)
        self._task = asyncio.create_task(self._run())
        self.ready.set()

    async def stop(self) -> None:
        for task in (self._task, self._reference_task):
            if task is not None:
                task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()

    def expect(self, order_id: int | None, command_id: str) -> asyncio.Future:
        """A future for the outcome of a command just about to be sent."""
        future = asyncio.get_running_loop().create_future()
        if order_id is not None:
            self._by_order[order_id] = future
        self._by_command[command_id] = future
        return future

    def forget(self, order_id: int | None, command_id: str) -> None:
        self._by_order.pop(order_id, None)
        self._by_command.pop(command_id, None)

    async def _run(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Kafka away: keep trying, readiness reports it
                log.warning("reading Kafka failed: %s", exc)
                await asyncio.sleep(1)
                continue
            for tp, records in batches.items():
                for record in records:
                    try:
                        self._on(tp.topic, record.key, record.value)
                    except (DecodeError, KeyError) as exc:
                        log.warning("unreadable message on %s: %s", tp.topic, exc)

    def _on(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if topic == ORDER_UPDATES.name:
            if not self._by_order:
                return
            latest = {}  # the order's state after the whole batch: immediate fills included
            for update in codec.decode_as(ORDER_UPDATES.record, value)["updates"]:
                if update["order_id"] in self._by_order:
                    latest[update["order_id"]] = {**latest.get(update["order_id"], {}),
                                                  **{k: v for k, v in update.items() if v is not None}}
            for order_id, update in latest.items():
                self._resolve(self._by_order.get(order_id), ("order", update))
        elif topic == COMMAND_RESULTS.name:
            if self._by_command:
                result = codec.decode_as(COMMAND_RESULTS.record, value)
                self._resolve(self._by_command.get(result["command_id"]), ("result", result))

    @staticmethod
    def _resolve(future: asyncio.Future | None, outcome: tuple) -> None:
        if future is not None and not future.done():
            future.set_result(outcome)
