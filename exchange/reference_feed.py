"""Assets and markets as every long-running process (worker, recorder, API, hub) keeps them:
read from their compacted topics at start, then followed, so a market created, halted or
resumed while it runs takes effect. The API and the hub follow sign-outs the same way: which
tokens of an account are void (api/security.py).

Workers used Faust GlobalTables for this, but faust-streaming does not apply records published
straight to a global table's topic once the worker runs (a market halted after start-up was still
open to the accounts stage); a plain consumer does. One consumer, no group, two one-partition
topics.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from exchange.config import Settings
from schemas.codec import DecodeError, codec
from schemas.topics import ASSETS, MARKETS, SIGN_OUTS

log = logging.getLogger("exchange.reference_feed")


class ReferenceFeed:
    def __init__(self, settings: Settings, sign_outs: bool = False,
                 on_sign_out: Callable[[dict], None] | None = None) -> None:
        self.settings = settings
        self.assets: dict[str, dict] = {}  # updated in place: holders keep the same dicts
        self.markets: dict[str, dict] = {}
        self.sign_outs: dict[str, dict] = {}  # account -> its latest exchange.SignOut (if followed)
        self.follow_sign_outs, self.on_sign_out = sign_outs, on_sign_out
        self.ready = asyncio.Event()  # set once everything published before start is read

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=100)
        await consumer.start()
        try:
            tps = {TopicPartition(ASSETS.name, 0): (ASSETS, self.assets),
                   TopicPartition(MARKETS.name, 0): (MARKETS, self.markets)}
            if self.follow_sign_outs:
                tps[TopicPartition(SIGN_OUTS.name, 0)] = (SIGN_OUTS, self.sign_outs)
            consumer.assign(list(tps))
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(list(tps))
            while True:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    topic, table = tps[tp]
                    for record in records:
                        key = record.key.decode()
                        try:
                            if record.value is None:
                                table.pop(key, None)
                            elif topic is SIGN_OUTS:
                                self.signed_out(codec.decode_as(topic.record, record.value))
                            else:
                                table[key] = codec.decode_as(topic.record, record.value)
                        except DecodeError as exc:
                            log.warning("unreadable %s record for %s: %s", topic.name, key, exc)
                if not self.ready.is_set() and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                    self.ready.set()
        finally:
            await consumer.stop()

    def signed_out(self, sign_out: dict) -> None:
        """Apply an exchange.SignOut, read or just sent: a cutoff only ever moves forward (two
        API processes may send one each at the same moment)."""
        current = self.sign_outs.get(sign_out["account"])
        if current is None or sign_out["before_ms"] >= current["before_ms"]:
            self.sign_outs[sign_out["account"]] = sign_out
            if self.on_sign_out is not None:
                self.on_sign_out(sign_out)
