"""Topics, assets and markets against the real broker: ensure_topics, read_compacted, the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from exchange.kafka_io import TopicError, ensure_topics, publish, read_compacted
from exchange.reference import make_asset
from schemas.topics import ASSETS, CATALOGUE, MARKETS, Topic


async def describe(bootstrap: str) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Partition count and the settings of each catalogue topic, as the broker reports them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        partitions = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
        responses = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, t.name, {"cleanup.policy": None, "retention.ms": None})
            for t in CATALOGUE
        ])
        configs = {name: {entry[0]: entry[1] for entry in entries}
                   for response in responses for _, _, _, name, entries in response.resources}
        return partitions, configs
    finally:
        await admin.close()


async def test_ensure_topics_creates_the_catalogue_once_with_its_settings(infra):
    before, _ = await describe(infra.kafka_bootstrap)
    created = await ensure_topics(infra)
    assert created == [t.name for t in CATALOGUE if t.name not in before]
    partitions, configs = await describe(infra.kafka_bootstrap)
    for topic in CATALOGUE:
        assert partitions[topic.name] == topic.partitions(infra.partitions), topic.name
        assert configs[topic.name]["cleanup.policy"] == ("compact" if topic.compacted else "delete"), topic.name
        if not topic.compacted:
            assert configs[topic.name]["retention.ms"] == str(topic.retention_ms), topic.name
    assert partitions["exchange.orders"] == infra.partitions > 1
    assert await ensure_topics(infra) == []


async def test_ensure_topics_refuses_a_changed_partition_count(infra):
    await ensure_topics(infra)
    more = dataclasses.replace(infra, partitions=infra.partitions + 1)
    with pytest.raises(TopicError, match=f"exchange.commands has {infra.partitions} partitions, expected "
                                         f"{infra.partitions + 1}"):
        await ensure_topics(more)


async def scratch_topic(bootstrap: str, partitions: int) -> Topic:
    """A compacted topic of Asset records of its own, so nothing else writes to it."""
    topic = Topic(f"scratch-{uuid.uuid4().hex[:8]}", "asset symbol", "exchange.Asset", True, compacted=True)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic.name, partitions, 1, topic_configs=topic.config())])
        # The broker serves a new topic's metadata a moment after the controller created it.
        while topic.name not in await admin.list_topics():
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    return topic


async def test_read_compacted_returns_at_once_for_an_empty_topic(infra):
    topic = await scratch_topic(infra.kafka_bootstrap, 3)
    started = time.monotonic()
    assert await read_compacted(infra, topic) == {}
    assert time.monotonic() - started < 5


async def test_read_compacted_keeps_the_latest_record_per_key_and_honours_tombstones(infra):
    topic = await scratch_topic(infra.kafka_bootstrap, 3)
    for symbol, decimals, partition in [("AAA", 1, 0), ("BBB", 2, 1), ("AAA", 3, 0), ("CCC", 4, 2), ("CCC", 5, 2)]:
        await publish(infra, topic, symbol, make_asset(symbol, decimals, 1), partition=partition)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic.name, key=b"BBB", value=None, partition=1)
    finally:
        await producer.stop()
    assert await read_compacted(infra, topic) == {
        "AAA": make_asset("AAA", 3, 1), "CCC": make_asset("CCC", 5, 1),
    }


async def test_read_compacted_names_a_missing_topic(infra):
    missing = dataclasses.replace(ASSETS, name=f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(TopicError, match="does not exist; run `exchange topics create`"):
        await read_compacted(infra, missing)


# --- the CLI, as an operator runs it ------------------------------------------------------------

def exchange(infra, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exchange.cli", *args], env=os.environ | infra.to_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def assets(infra) -> tuple[str, str]:
    """A base and a quote asset no other test uses (the topics live for the whole session)."""
    suffix = f"{uuid.uuid4().int % 10**6:06d}"
    base, quote = f"SOL{suffix}", f"USD{suffix}"
    for symbol, decimals in ((base, "9"), (quote, "6")):
        result = exchange(infra, "asset", "create", symbol, "--decimals", decimals)
        assert ((result.returncode, result.stdout)
                == (0, f"created asset {symbol} ({decimals} decimals)\n")), result.stderr
    return base, quote


def test_topics_create_reports_that_all_exist(infra):
    asyncio.run(ensure_topics(infra))
    result = exchange(infra, "topics", "create")
    assert (result.returncode, result.stdout) == (0, "all topics exist\n")


def test_assets_are_listed_and_their_decimals_are_fixed(infra, assets):
    base, _ = assets
    assert f"\n{base}" in exchange(infra, "asset", "list").stdout
    again = exchange(infra, "asset", "create", base, "--decimals", "9")
    assert (again.returncode, again.stdout) == (0, f"asset {base} exists already\n")
    changed = exchange(infra, "asset", "create", base, "--decimals", "8")
    assert changed.returncode == 2
    assert changed.stderr == f"error: asset {base} exists with 9 decimals; decimals are fixed once created\n"


def test_a_market_is_created_listed_halted_and_resumed(infra, assets):
    base, quote = assets
    symbol = f"{base}_{quote}"
    create = ["market", "create", symbol, "--base", base, "--quote", quote, "--tick", "0.01", "--step", "0.001",
              "--min-notional", "1", "--maker-fee", "0.001", "--taker-fee", "0.002", "--partition", "1"]
    result = exchange(infra, *create)
    assert (result.returncode, result.stdout) == (0, f"created market {symbol} on partition 1\n"), result.stderr
    again = exchange(infra, *create)
    assert (again.returncode, again.stdout) == (0, f"market {symbol} exists already\n")

    listed = [line.split() for line in exchange(infra, "market", "list").stdout.splitlines()]
    assert listed[0] == ["symbol", "status", "tick", "step", "min_notional", "maker_fee", "taker_fee", "partition"]
    assert [symbol, "open", "0.01", "0.001", "1", "0.001", "0.002", "1"] in listed

    halted = exchange(infra, "market", "halt", symbol)
    assert (halted.returncode, halted.stdout) == (0, f"market {symbol} is halted\n")
    assert [symbol, "halted"] in [line.split()[:2] for line in exchange(infra, "market", "list").stdout.splitlines()]
    market = asyncio.run(read_compacted(infra, MARKETS))[symbol]
    assert (market["status"], market["quote_per_tick_step"], market["base_per_step"]) == ("halted", 10, 10**6)

    resumed = exchange(infra, "market", "resume", symbol)
    assert (resumed.returncode, resumed.stdout) == (0, f"market {symbol} is open\n")
    assert asyncio.run(read_compacted(infra, MARKETS))[symbol]["status"] == "open"


def test_fees_may_change_but_the_grid_may_not(infra, assets):
    base, quote = assets
    symbol = f"{base}_{quote}"
    create = ["market", "create", symbol, "--base", base, "--quote", quote, "--tick", "0.01"]
    assert exchange(infra, *create, "--step", "0.001").returncode == 0
    exchange(infra, "market", "halt", symbol)

    refee = exchange(infra, *create, "--step", "0.001", "--taker-fee", "0.003")
    assert (refee.returncode, refee.stdout) == (0, f"updated market {symbol}: min notional and fees\n")
    market = asyncio.run(read_compacted(infra, MARKETS))[symbol]
    assert (market["taker_fee_ppm"], market["status"]) == (3000, "halted")

    regrid = exchange(infra, *create, "--step", "0.01")
    assert regrid.returncode == 2
    assert regrid.stderr == (f"error: market {symbol} exists with step 0.001; "
                             "base, quote, tick, step, partition are fixed once created\n")


def test_bad_market_definitions_exit_2_with_one_error_line(infra, assets):
    base, quote = assets
    symbol = f"{base}_{quote}"
    cases = {
        ("--base", base, "--quote", quote, "--tick", "0.001", "--step", "0.0001"):
            "error: price tick × quantity step must be an exact number of quote atoms: 0.001 × 0.0001 = "
            f"0.0000001 {quote} is 0.1 atoms ({quote} has 6 decimals)\n",
        ("--base", base, "--quote", "NOPE999", "--tick", "0.01", "--step", "0.001"):
            "error: unknown asset NOPE999; create it first with `exchange asset create NOPE999`\n",
        ("--base", base, "--quote", quote, "--tick", "0.01", "--step", "0.001", "--partition", str(infra.partitions)):
            f"error: partition {infra.partitions} does not exist (EXCHANGE_PARTITIONS={infra.partitions})\n",
        ("--base", base, "--quote", quote, "--tick", "1e-2", "--step", "0.001"):
            "error: tick must be a plain decimal string such as 0.01 or 150, not '1e-2'\n",
    }
    for options, message in cases.items():
        result = exchange(infra, "market", "create", symbol, *options)
        assert (result.returncode, result.stderr) == (2, message)
    assert symbol not in asyncio.run(read_compacted(infra, MARKETS))
    unknown = exchange(infra, "market", "halt", symbol)
    assert (unknown.returncode, unknown.stderr) == (2, f"error: unknown market {symbol}\n")
