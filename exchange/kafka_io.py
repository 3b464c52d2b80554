"""Small aiokafka helpers for processes that are not Faust workers (the CLI, the API, the hub).

Each call opens its own client and closes it before returning: these are operator actions and
start-up reads, not a hot path, so a connection per call keeps them independent and leak-free.
The exception is `tail`, whose consumer its caller reads for as long as it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from exchange.config import Settings
from schemas.codec import codec
from schemas.topics import CATALOGUE, Topic

VISIBLE_TIMEOUT_S = 30.0  # how long a created topic may take to show in the broker's metadata


class TopicError(RuntimeError):
    """A topic is missing, or exists with a layout the exchange cannot use."""


WARM_UP_TOPIC = "group-coordinator-warm-up"


async def group_coordinator_ready(settings: Settings, timeout: float = 60.0) -> None:
    """Commit an offset once, so the broker has its offsets topic and group coordinator before a
    worker's consumer group needs them. A fresh broker creates them on first use, and a group
    that joins meanwhile sees its coordinator come and go and can stay stuck without committing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if WARM_UP_TOPIC not in await admin.list_topics():
            try:
                await admin.create_topics([NewTopic(WARM_UP_TOPIC, num_partitions=1, replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=WARM_UP_TOPIC,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(WARM_UP_TOPIC, 0)
        consumer.assign([tp])
        await asyncio.wait_for(consumer.commit({tp: 0}), timeout)
    finally:
        await consumer.stop()


async def ensure_topics(settings: Settings, replication_factor: int = 1) -> list[str]:
    """Create the catalogue's missing topics; the names created, in catalogue order.

    An existing topic with another partition count is an error, never changed here: markets are
    pinned to partitions and accounts hashed over them, so adding partitions needs the documented
    procedure, not a side effect of a start-up.
    """
    async with _admin(settings) as admin:
        existing = await _partition_counts(admin)
        for topic in CATALOGUE:
            wanted = topic.partitions(settings.partitions)
            if topic.name in existing and existing[topic.name] != wanted:
                raise TopicError(f"topic {topic.name} has {existing[topic.name]} partitions, expected {wanted} "
                                 f"(EXCHANGE_PARTITIONS={settings.partitions}); "
                                 "partition counts are fixed once created")
        missing = [topic for topic in CATALOGUE if topic.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics([
            NewTopic(topic.name, num_partitions=topic.partitions(settings.partitions),
                     replication_factor=replication_factor, topic_configs=topic.config())
            for topic in missing
        ])
        created = []
        for name, code, *_ in response.topic_errors:
            if not code:
                created.append(name)
            # Another process creating the same topic at the same moment is not a failure.
            elif for_code(code) is not TopicAlreadyExistsError:
                raise for_code(code)(f"creating topic {name}")
        await _wait_until_visible(admin, created)
        return [topic.name for topic in missing if topic.name in created]


@asynccontextmanager
async def _admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    # Asking for all topics, not by name: naming a missing topic can auto-create it on brokers
    # that allow that, with the wrong settings.
    return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics() if not t["error_code"]}


async def _wait_until_visible(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until the broker serves metadata for new topics, so a reader right after finds them."""
    async with asyncio.timeout(VISIBLE_TIMEOUT_S):
        while not set(names) <= set(await _partition_counts(admin)):
            await asyncio.sleep(0.1)


async def read_compacted(settings: Settings, topic: Topic) -> dict[str, dict]:
    """The current record per key of a compacted topic: read from the start up to its end.

    It stops at the end offsets taken when it starts, not after a quiet period, so an empty topic
    answers at once and a record published later is simply not seen. Later records win; a
    tombstone (None value) deletes its key.
    """
    # The admin client, because a consumer only learns the partitions of topics it subscribed to.
    async with _admin(settings) as admin:
        partitions = (await _partition_counts(admin)).get(topic.name)
    if partitions is None:
        raise TopicError(f"topic {topic.name} does not exist; run `exchange topics create`")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic.name, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        current: dict[str, dict] = {}
        unread = [tp for tp in assigned if await consumer.position(tp) < end[tp]]
        while unread:
            batches = await consumer.getmany(*unread, timeout_ms=1000)
            # A key always lives on one partition, so reading partitions interleaved keeps its order.
            for messages in batches.values():
                for message in messages:
                    key = message.key.decode()
                    if message.value is None:
                        current.pop(key, None)
                    else:
                        current[key] = codec.decode_as(topic.record, message.value)
            unread = [tp for tp in unread if await consumer.position(tp) < end[tp]]
        return current
    finally:
        await consumer.stop()


async def tail(settings: Settings, topics: Iterable[Topic], fetch_max_wait_ms: int) -> AIOKafkaConsumer:
    """A started consumer of every partition of these topics, from their current ends on.

    No consumer group: every process that tails sees everything (several API processes or hubs
    side by side), and none commits anything.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=fetch_max_wait_ms)
    await consumer.start()
    assigned = [TopicPartition(topic.name, p) for topic in topics for p in range(settings.partitions)]
    consumer.assign(assigned)
    await consumer.seek_to_end(*assigned)
    for tp in assigned:
        await consumer.position(tp)  # resolve the ends now, before anything is published
    return consumer


async def publish(settings: Settings, topic: Topic, key: str, record: dict, partition: int | None = None) -> None:
    """Encode `record` as the topic's record type and send it, returning once all replicas have it."""
    value = codec.encode(topic.record, record)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic.name, key=key.encode(), value=value, partition=partition)
    finally:
        await producer.stop()
