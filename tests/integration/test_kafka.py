"""aiokafka against the real broker: partitions, per-partition order, group offsets, transactions."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def consume_until(consumer: AIOKafkaConsumer, count: int, timeout: float = 30.0) -> list:
    records: list = []
    async def drain() -> None:
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
    await asyncio.wait_for(drain(), timeout)
    return records


async def test_keyed_messages_keep_their_order_within_each_partition(infra):
    bootstrap = infra.kafka_bootstrap
    topic = unique("orders")
    await create_topic(bootstrap, topic, partitions=4)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    markets = ["SOL_USDC", "BTC_USDT", "ETH_USDT", "DOGE_USDT", "XRP_USDT"]
    try:
        for n in range(200):
            market = markets[n % len(markets)]
            await producer.send(topic, key=market.encode(), value=f"{market}:{n}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        records = await consume_until(consumer, 200)
    finally:
        await consumer.stop()

    partition_of: dict[bytes, int] = {}
    sent_order: dict[bytes, list[int]] = defaultdict(list)
    for record in records:
        # One key always lands on one partition...
        assert partition_of.setdefault(record.key, record.partition) == record.partition
        sent_order[record.key].append(int(record.value.split(b":")[1]))
    # ...and arrives in the order it was produced.
    assert all(seq == sorted(seq) for seq in sent_order.values())
    assert sum(len(seq) for seq in sent_order.values()) == 200
    assert len(set(partition_of.values())) > 1, "keys should spread over several partitions"


async def test_consumer_group_resumes_where_it_committed(infra):
    bootstrap = infra.kafka_bootstrap
    topic, group = unique("commands"), unique("group")
    await create_topic(bootstrap, topic, partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in range(100):
            await producer.send(topic, key=str(n % 7).encode(), value=str(n).encode())
        await producer.flush()
    finally:
        await producer.stop()

    def group_consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_poll_records=10)

    first = group_consumer()
    await first.start()
    try:
        seen_first = await consume_until(first, 60)
        # Commit exactly what was processed: positions just past the records seen.
        last = {}
        for record in seen_first:
            last[TopicPartition(record.topic, record.partition)] = record.offset + 1
        await first.commit(last)
    finally:
        await first.stop()

    second = group_consumer()
    await second.start()
    try:
        seen_second = await consume_until(second, 100 - len(seen_first))
        await asyncio.sleep(1)
        seen_second += [r for rs in (await second.getmany(timeout_ms=500)).values() for r in rs]
    finally:
        await second.stop()

    values_first = {int(r.value) for r in seen_first}
    values_second = {int(r.value) for r in seen_second}
    assert values_first.isdisjoint(values_second), "committed records must not be delivered again"
    assert values_first | values_second == set(range(100)), "nothing may be skipped"


async def test_aborted_transactions_stay_invisible_to_read_committed(infra):
    bootstrap = infra.kafka_bootstrap
    topic = unique("settlements")
    await create_topic(bootstrap, topic, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=unique("tx"))
    await producer.start()
    try:
        async with producer.transaction():
            for n in range(3):
                await producer.send(topic, value=f"committed-{n}".encode())
        await producer.begin_transaction()
        for n in range(3):
            await producer.send(topic, value=f"aborted-{n}".encode())
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, value=b"committed-last")
    finally:
        await producer.stop()

    async def read(isolation: str) -> list[bytes]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                    isolation_level=isolation, enable_auto_commit=False)
        await consumer.start()
        try:
            expected = 4 if isolation == "read_committed" else 7
            return [r.value for r in await consume_until(consumer, expected)]
        finally:
            await consumer.stop()

    committed = await read("read_committed")
    assert committed == [b"committed-0", b"committed-1", b"committed-2", b"committed-last"]
    # The aborted records really reached the log; only the isolation level hides them.
    uncommitted = await read("read_uncommitted")
    assert [v for v in uncommitted if v.startswith(b"aborted")] == [b"aborted-0", b"aborted-1", b"aborted-2"]

