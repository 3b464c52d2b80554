"""What the API reads from Kafka: reference data and the outcomes of the commands it sends.

Reference data (and sign-outs) come from exchange/reference_feed.py. Outcomes come from
`exchange.replies`, whose partitions the API processes share out as one consumer group: each
process names one of its own partitions (`reply_to`) in the commands it sends, and the stages
send the outcome there, so a process reads the outcomes of its own commands and no one else's,
however many processes run. A placed order's outcome is its state after the take of the matching
stage that placed it (NEW, FILLED, REJECTED, ...), or, if a stage refused the command, its
command result; whoever waits for it gets it, anything else is dropped.

The group shares the partitions out again when a process joins or leaves. A reply that lands on a
partition its sender no longer owns reaches nobody: that client gets 202 (pending) and reads the
order, or retries with its client order id, exactly as when the wait runs out.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from exchange.config import Settings
from exchange.reference_feed import ReferenceFeed
from schemas.codec import DecodeError, codec
from schemas.topics import REPLIES

log = logging.getLogger("exchange.api.feeds")

REPLY_GROUP = "exchange-api-replies"
# The broker answers a fetch as soon as a reply is there; this is only how often an idle process
# asks again, so it can be long: a short one costs every idle API process CPU for nothing.
REPLY_FETCH_WAIT_MS = 500


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
        self.reply_to: int | None = None  # the exchange.replies partition named in commands sent now
        self.owned_partitions: list[int] = []
        self.replies_read = 0
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._reference_task = asyncio.create_task(self.reference.run())
        await self.reference.ready.wait()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap, group_id=REPLY_GROUP,
            # Never committed: a partition newly owned is read from its end, since the replies on it
            # before were for whoever owned it then.
            enable_auto_commit=False, auto_offset_reset="latest", fetch_max_wait_ms=REPLY_FETCH_WAIT_MS,
        )
        self._consumer.subscribe([REPLIES.name], listener=_Owned(self, self._consumer))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in (self._task, self._reference_task):
            if task is not None:
                task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()

    def owned(self, partitions: list[int]) -> None:
        """The group gave this process these reply partitions: keep naming the one it names if it
        still has it, so a reply on its way is not sent to a partition it just lost."""
        self.owned_partitions = partitions
        if self.reply_to not in partitions:
            self.reply_to = min(partitions) if partitions else None
        if partitions:
            self.ready.set()
        else:
            log.warning("no exchange.replies partition left for this API process: there are more API "
                        "processes than the topic's %d partitions; its orders answer 202 (pending)",
                        REPLIES.count)

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
            for records in batches.values():
                for record in records:
                    try:
                        self.on_reply(record.value)
                    except (DecodeError, KeyError) as exc:
                        log.warning("unreadable message on %s: %s", REPLIES.name, exc)

    def render_metrics(self) -> str:
        """Prometheus lines: the reply partitions this process owns, and the replies it read."""
        return ("# TYPE exchange_api_reply_partitions gauge\n"
                f"exchange_api_reply_partitions {len(self.owned_partitions)}\n"
                "# TYPE exchange_api_replies_total counter\n"
                f"exchange_api_replies_total {self.replies_read}\n")

    def on_reply(self, value: bytes | None) -> None:
        self.replies_read += 1
        if not (self._by_order or self._by_command):
            return
        reply = codec.decode_as(REPLIES.record, value)
        latest: dict[int, dict] = {}  # each order's state after the whole take: immediate fills included
        for update in reply["updates"]:
            if update["order_id"] in self._by_order:
                latest[update["order_id"]] = {**latest.get(update["order_id"], {}),
                                              **{k: v for k, v in update.items() if v is not None}}
        for order_id, update in latest.items():
            self._resolve(self._by_order.get(order_id), ("order", update))
        for result in reply["results"]:
            self._resolve(self._by_command.get(result["command_id"]), ("result", result))

    @staticmethod
    def _resolve(future: asyncio.Future | None, outcome: tuple) -> None:
        if future is not None and not future.done():
            future.set_result(outcome)


class _Owned(ConsumerRebalanceListener):
    def __init__(self, feeds: Feeds, consumer: AIOKafkaConsumer) -> None:
        self.feeds, self.consumer = feeds, consumer

    async def on_partitions_revoked(self, revoked) -> None:
        pass  # the next assignment says what is left; until then replies still arrive

    async def on_partitions_assigned(self, assigned) -> None:
        if assigned:
            # Positions resolved before any command names these partitions, so no reply to one
            # is skipped by an end found later.
            await self.consumer.seek_to_end(*assigned)
            for tp in assigned:
                await self.consumer.position(tp)
        self.feeds.owned(sorted(tp.partition for tp in assigned))
