"""Small aiokafka helpers for processes that are not Faust workers (the CLI, the API, the hub).

Each call opens its own client and closes it before returning: these are operator actions and
start-up reads, not a hot path, so a connection per call keeps them independent and leak-free.
The exception is `tail`, whose consumer its caller reads for as long as it runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
    for_code,
)
from aiokafka.protocol.admin import (
    AlterPartitionReassignmentsRequest,
    DescribeGroupsRequest_v0,
    DescribeGroupsRequest_v1,
    DescribeGroupsRequest_v2,
)
from aiokafka.protocol.api import Request

from exchange.config import Settings
from schemas.codec import codec
from schemas.topics import CATALOGUE, Topic

VISIBLE_TIMEOUT_S = 30.0  # how long a created topic may take to show in the broker's metadata
NEW_TOPIC_METADATA_S = 5.0  # how long a broker may lag behind another in knowing of a new topic


T = TypeVar("T")


class TopicError(RuntimeError):
    """A topic is missing, or exists with a layout the exchange cannot use."""


@dataclass(frozen=True)
class Replication:
    """What every topic the exchange (or its Faust apps) creates gets: replicas per partition, and how
    many of them must have a write before a producer with acks=all hears it succeeded."""

    factor: int
    min_insync: int

    def __str__(self) -> str:
        return f"replication factor {self.factor}, min.insync.replicas {self.min_insync}"


def derive_replication(brokers: int, factor: int = 0, min_insync: int = 0) -> Replication:
    """KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS, each derived when 0 (unset): the factor
    is min(3, brokers), the minimum 2 once there are 3 replicas (one may be lost), else 1."""
    factor = factor or min(3, max(brokers, 1))
    min_insync = min_insync or (2 if factor >= 3 else 1)
    if factor > brokers:
        raise TopicError(f"replication factor {factor} needs {factor} brokers; the cluster has {brokers}")
    if min_insync > factor:
        raise TopicError(f"min.insync.replicas {min_insync} is more than the replication factor {factor}")
    return Replication(factor, min_insync)


async def replication(settings: Settings) -> Replication:
    """The replication topics get here, from the settings and the cluster's size: the brokers the
    layout names (KAFKA_BROKERS) or, if more, those the cluster reports. A broker that happens to be
    down while topics are created must not make them less replicated for good."""
    async with _admin(settings) as admin:
        live = len((await _from_any_broker(admin.describe_cluster))["brokers"])
    brokers = max(live, settings.kafka_brokers)
    return derive_replication(brokers, settings.kafka_replication_factor, settings.kafka_min_insync_replicas)


UNREACHABLE = (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError)
UNREACHABLE_RETRIES = 10


async def _from_any_broker(request: Callable[[], Awaitable[T]]) -> T:
    """An admin read the client sends to a broker picked at random from its metadata, asked again
    when that broker does not answer: after a kill -9 the metadata names the dead broker until the
    controller fences it, and `topics list` is run exactly when a broker is down."""
    for attempt in range(UNREACHABLE_RETRIES):
        try:
            return await request()
        except UNREACHABLE:
            if attempt == UNREACHABLE_RETRIES - 1:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


WARM_UP_TOPIC = "group-coordinator-warm-up"


async def group_coordinator_ready(settings: Settings, timeout: float = 60.0,
                                  replicas: Replication | None = None) -> None:
    """Commit an offset once, so the broker has its offsets topic and group coordinator before a
    worker's consumer group needs them. A fresh broker creates them on first use, and a group
    that joins meanwhile sees its coordinator come and go and can stay stuck without committing."""
    replicas = replicas or await replication(settings)
    async with _admin(settings) as admin:
        if WARM_UP_TOPIC not in await admin.list_topics():
            try:
                await admin.create_topics([NewTopic(WARM_UP_TOPIC, num_partitions=1, replication_factor=replicas.factor,
                                                    topic_configs=topic_configs({}, replicas))])
            except TopicAlreadyExistsError:
                pass
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=WARM_UP_TOPIC,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(WARM_UP_TOPIC, 0)
        consumer.assign([tp])
        await asyncio.wait_for(consumer.commit({tp: 0}), timeout)
    finally:
        await consumer.stop()


def topic_configs(configs: dict[str, str], replicas: Replication) -> dict[str, str]:
    return {**configs, "min.insync.replicas": str(replicas.min_insync)}


async def ensure_topics(settings: Settings, replicas: Replication | None = None) -> list[str]:
    """Create the catalogue's missing topics with the replication in use (`replication` when not
    given); the names created, in catalogue order.

    An existing topic with another partition count is an error, never changed here: markets are
    pinned to partitions and accounts hashed over them, so adding partitions needs the documented
    procedure, not a side effect of a start-up.
    """
    async with _admin(settings) as admin:
        existing = await partition_counts(admin)
        for topic in CATALOGUE:
            wanted = topic.partitions(settings.partitions)
            if topic.name in existing and existing[topic.name] != wanted:
                raise TopicError(f"topic {topic.name} has {existing[topic.name]} partitions, expected {wanted} "
                                 f"(EXCHANGE_PARTITIONS={settings.partitions}): run with "
                                 f"EXCHANGE_PARTITIONS={existing[topic.name]}, or stop the exchange and grow it "
                                 f"with `exchange partitions grow --to {wanted}` (docs/operations.md)")
        missing = [topic for topic in CATALOGUE if topic.name not in existing]
        if not missing:
            return []
        replicas = replicas or await replication(settings)
        response = await admin.create_topics([
            NewTopic(topic.name, num_partitions=topic.partitions(settings.partitions),
                     replication_factor=replicas.factor, topic_configs=topic_configs(topic.config(), replicas))
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


async def partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    # Asking for all topics, not by name: naming a missing topic can auto-create it on brokers
    # that allow that, with the wrong settings.
    described = await _from_any_broker(admin.describe_topics)
    return {t["topic"]: len(t["partitions"]) for t in described if not t["error_code"]}


async def _wait_until_visible(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Wait until the broker serves metadata for new topics, so a reader right after finds them."""
    async with asyncio.timeout(VISIBLE_TIMEOUT_S):
        while not set(names) <= set(await partition_counts(admin)):
            await asyncio.sleep(0.1)


async def read_compacted(settings: Settings, topic: Topic) -> dict[str, dict]:
    """The current record per key of a compacted topic of the catalogue, decoded (see `read_rows`)."""
    return {key: codec.decode_as(topic.record, value)
            for rows in (await read_rows(settings, topic.name)).values() for key, value in rows.items()}


async def read_rows(settings: Settings, name: str) -> dict[int, dict[str, bytes]]:
    """The current record per key of a compacted topic, encoded, per partition: read from the start
    up to its end.

    It stops at the end offsets taken when it starts, not after a quiet period, so an empty topic
    answers at once and a record published later is simply not seen. Later records win; a
    tombstone (None value) deletes its key.
    """
    # The admin client, because a consumer only learns the partitions of topics it subscribed to.
    # On a cluster, the broker asked may not know yet of a topic another one just created (its
    # creator waited only until the broker it asked served it), so a missing topic is asked for
    # again for a few seconds before it counts as missing.
    async with _admin(settings) as admin:
        deadline = time.monotonic() + NEW_TOPIC_METADATA_S
        while (partitions := (await partition_counts(admin)).get(name)) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    if partitions is None:
        raise TopicError(f"topic {name} does not exist; run `exchange topics create`")
    rows: dict[int, dict[str, bytes]] = {p: {} for p in range(partitions)}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(name, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        unread = [tp for tp in assigned if await consumer.position(tp) < end[tp]]
        while unread:
            for tp, messages in (await consumer.getmany(*unread, timeout_ms=1000)).items():
                current = rows[tp.partition]
                for message in messages:
                    if message.offset >= end[tp] or message.key is None:
                        continue
                    if message.value is None:
                        current.pop(message.key.decode(), None)
                    else:
                        current[message.key.decode()] = message.value
            unread = [tp for tp in unread if await consumer.position(tp) < end[tp]]
        return rows
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


class _DescribeGroups(Request[DescribeGroupsRequest_v0 | DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]):
    """DescribeGroups up to v2: aiokafka 0.14 reads a v3 answer with v2's layout and fails on it
    (`DescribeGroupsRequest_v3.RESPONSE_TYPE`), and Kafka 3.x answers v3 when asked what it speaks,
    so the admin client's `describe_consumer_groups` cannot be used."""

    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class):
        return request_struct_class(self._groups)


async def describe_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> list[dict]:
    """Each group's state and members (`group`, `state`, `members` with `client_id`, `client_host`)."""
    described = []
    client = admin._client  # the admin client's connections, to send the request above
    for group in groups:
        node = await admin.find_coordinator(group)
        response = await client.send(node, _DescribeGroups([group]))
        described += response.to_object()["groups"]
    return described


# The Faust apps' ids (streams.worker.APP_ID "exchange", streams.read_worker.READ_APP_ID
# "exchange-read") begin their changelog topics' names with this; the catalogue's use a dot.
FAUST_TOPIC_PREFIX = "exchange-"
# Kafka's own topics the exchange depends on: consumer groups' offsets, and transactions' state.
INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state")


def is_exchange_topic(name: str) -> bool:
    """A topic `topics list` and `topics replicate` look after: the catalogue's, the Faust apps'
    changelogs, the warm-up topic and Kafka's internal topics."""
    return (name in {topic.name for topic in CATALOGUE} or name.startswith(FAUST_TOPIC_PREFIX)
            or name == WARM_UP_TOPIC or name in INTERNAL_TOPICS)


@dataclass(frozen=True)
class TopicHealth:
    name: str
    partitions: int
    replication: int  # the fewest replicas of any partition
    min_insync: str
    under_replicated: int  # partitions whose in-sync replicas are fewer than their replicas
    offline: int  # partitions without a leader


async def topic_health(settings: Settings) -> list[TopicHealth]:
    """Every topic of the exchange, by name, with its replication and its partitions' state."""
    async with _admin(settings) as admin:
        topics = sorted((t for t in await _from_any_broker(admin.describe_topics) if not t["error_code"]
                         and is_exchange_topic(t["topic"])), key=lambda t: t["topic"])
        min_insync = await _topic_config(admin, [t["topic"] for t in topics], "min.insync.replicas")
    return [
        TopicHealth(
            name=t["topic"], partitions=len(t["partitions"]),
            replication=min((len(p["replicas"]) for p in t["partitions"]), default=0),
            min_insync=min_insync.get(t["topic"], "?"),
            under_replicated=sum(1 for p in t["partitions"] if len(p["isr"]) < len(p["replicas"])),
            offline=sum(1 for p in t["partitions"] if p["leader"] < 0),
        )
        for t in topics
    ]


async def _topic_config(admin: AIOKafkaAdminClient, names: list[str], key: str) -> dict[str, str]:
    """One config's value for each topic named."""
    if not names:
        return {}
    found: dict[str, str] = {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, {key: ""}) for name in names]
    for response in await _from_any_broker(lambda: admin.describe_configs(resources)):
        for resource in response.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == key:
                    found[resource["resource_name"]] = entry["config_value"]
    return found


DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a value set on the topic itself
REASSIGNMENT_TIMEOUT_S = 600.0


async def replicate(settings: Settings) -> list[str]:
    """Raise every topic of the exchange (`is_exchange_topic`) to the replication in use: a partition
    reassignment adds replicas to partitions that have too few, then min.insync.replicas is set.
    Returns what was done, a line per topic; waits until every new replica is in sync.

    For a cluster that grew (brokers added): Kafka never adds replicas to existing partitions on
    its own. The broker forwards the reassignment to the controller, as Kafka's own
    kafka-reassign-partitions tool does."""
    replicas = await replication(settings)
    done: list[str] = []
    async with _admin(settings) as admin:
        brokers = sorted(b["node_id"] for b in (await admin.describe_cluster())["brokers"])
        topics = [t for t in await admin.describe_topics() if not t["error_code"] and is_exchange_topic(t["topic"])]
        targets: dict[tuple[str, int], list[int]] = {}
        for topic in topics:
            for partition in topic["partitions"]:
                current = list(partition["replicas"])
                if len(current) >= replicas.factor:
                    continue
                # Spread the new replicas: each partition starts its search at another broker.
                start = partition["partition"] % len(brokers)
                ring = brokers[start:] + brokers[:start]
                added = [b for b in ring if b not in current][:replicas.factor - len(current)]
                targets[(topic["topic"], partition["partition"])] = current + added
        if targets:
            await _reassign(settings, targets)
        for topic in topics:
            moved = sum(1 for name, _ in targets if name == topic["topic"])
            if moved:
                done.append(f"{topic['topic']}: {moved} partition(s) to {replicas.factor} replicas")
        done += await _set_min_insync(admin, [t["topic"] for t in topics], replicas)
        await _wait_in_sync(admin, targets)
    return done


async def _reassign(settings: Settings, targets: dict[tuple[str, int], list[int]]) -> None:
    by_topic: dict[str, list[tuple[int, list[int], dict]]] = {}
    for (name, partition), wanted in sorted(targets.items()):
        by_topic.setdefault(name, []).append((partition, wanted, {}))
    client = AIOKafkaClient(bootstrap_servers=settings.kafka_bootstrap)
    await client.bootstrap()
    try:
        request = AlterPartitionReassignmentsRequest(
            timeout_ms=30_000, topics=[(name, parts, {}) for name, parts in by_topic.items()], tags={})
        response = (await client.send(client.get_random_node(), request)).to_object()
    finally:
        await client.close()
    if response["error_code"]:
        raise for_code(response["error_code"])(f"reassigning partitions: {response['error_message']}")
    for topic in response["responses"]:
        for partition in topic["partitions"]:
            if partition["error_code"]:
                raise for_code(partition["error_code"])(
                    f"reassigning {topic['name']}[{partition['partition_index']}]: {partition['error_message']}")


async def _set_min_insync(admin: AIOKafkaAdminClient, names: list[str], replicas: Replication) -> list[str]:
    """Set min.insync.replicas where it differs. AlterConfigs replaces a topic's whole set of
    values, so the ones already set on the topic (compaction, retention...) are sent with it."""
    wanted = str(replicas.min_insync)
    changed = []
    for name in names:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        [resource] = response.to_object()["resources"]
        entries = {e["config_names"]: e for e in resource["config_entries"]}
        if entries.get("min.insync.replicas", {}).get("config_value") == wanted:
            continue
        own = {k: e["config_value"] for k, e in entries.items() if e.get("config_source") == DYNAMIC_TOPIC_CONFIG}
        [altered] = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                              own | {"min.insync.replicas": wanted})])
        for error_code, error_message, *_ in altered.resources:
            if error_code:
                raise for_code(error_code)(f"setting min.insync.replicas of {name}: {error_message}")
        changed.append(f"{name}: min.insync.replicas {wanted}")
    return changed


async def _wait_in_sync(admin: AIOKafkaAdminClient, targets: dict[tuple[str, int], list[int]]) -> None:
    async with asyncio.timeout(REASSIGNMENT_TIMEOUT_S):
        while targets:
            names = sorted({name for name, _ in targets})
            state = {(t["topic"], p["partition"]): p for t in await admin.describe_topics(names)
                     for p in t["partitions"]}
            targets = {key: wanted for key, wanted in targets.items()
                       if set(state[key]["replicas"]) != set(wanted) or not set(wanted) <= set(state[key]["isr"])}
            if targets:
                await asyncio.sleep(0.5)
