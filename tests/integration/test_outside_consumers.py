"""Consumers outside the exchange read its topics with nothing but the .avsc files.

Apache Avro for Java, an independent implementation: its BinaryMessageDecoder reads a message of
every record type the exchange writes, and the exchange reads what its BinaryMessageEncoder
writes. The documented example consumers (docs/examples/), in Java and in Python, read a topic.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from infra.local.toolchain import AVRO_VERSION, KAFKA_VERSION, fetch_jars, find_java
from schemas.codec import AVRO_DIR, MARKER, codec
from tests.integration.test_kafka import create_topic

HERE = Path(__file__).parent
EXAMPLES = HERE.parent.parent / "docs" / "examples"


@pytest.fixture(scope="module")
def java(infra, tmp_path_factory):
    """Runs a class of the documented example or the round trip, compiled once, with Avro and the
    Kafka client on the class path."""
    avro_jars = fetch_jars("avro", AVRO_VERSION, infra.cache_dir)
    kafka_jars = fetch_jars("kafka", KAFKA_VERSION, infra.cache_dir)
    # Kafka's slf4j first: Avro's newer slf4j-api would find no binding and warn on every run.
    classpath = f"{kafka_jars}/*:{avro_jars}/*"
    classes = tmp_path_factory.mktemp("java-classes")
    javac = Path(find_java().executable).resolve().with_name("javac")  # the JDK's, beside its java
    compiled = subprocess.run([str(javac), "-d", str(classes), "-cp", classpath, str(EXAMPLES / "ReadTopic.java"),
                               str(HERE / "avro_java" / "RoundTrip.java")], capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr[-3000:]

    def run(main_class: str, *args: str, stdin: str = "", timeout: float = 120) -> list[str]:
        done = subprocess.run([find_java().executable, "-cp", f"{classes}:{classpath}", main_class, *args],
                              input=stdin, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.splitlines()

    return run


def sample(node, named: dict):
    """A value of every branch a schema can take somewhere, as the codec's writers accept it."""
    if isinstance(node, str):
        primitives = {"null": None, "boolean": True, "int": -7, "long": 2**40 + 3, "string": "SOL_USDC",
                      "bytes": b"\x00\xff", "float": 0.5, "double": 0.25}
        return primitives[node] if node in primitives else sample(named[node], named)
    if isinstance(node, list):
        records = [branch for branch in node if _is_record(branch, named)]
        if len(records) > 1:  # the codec names the branch when a union holds several records
            branch = records[-1]
            name = branch if isinstance(branch, str) else _full_name(branch)
            return (name, sample(branch, named))
        return sample([b for b in node if b != "null"][-1], named)
    kind = node["type"]
    if kind == "record":
        named[_full_name(node)] = node
        return {field["name"]: sample(field["type"], named) for field in node["fields"]}
    if kind == "enum":
        named[_full_name(node)] = node
        return node["symbols"][-1]
    if kind == "array":
        return [sample(node["items"], named)]
    if kind == "map":
        return {"SOL": sample(node["values"], named)}
    if kind == "fixed":
        return b"\x01" * node["size"]
    return sample(kind, named)


def _is_record(branch, named: dict) -> bool:
    definition = named.get(branch, {}) if isinstance(branch, str) else branch
    return isinstance(definition, dict) and definition.get("type") == "record"


def _full_name(node: dict) -> str:
    # Every type of the exchange is in the namespace "exchange"; nested ones inherit it.
    return node["name"] if "." in node["name"] else f"{node.get('namespace', 'exchange')}.{node['name']}"


def test_java_reads_every_record_type_the_exchange_writes_and_writes_what_it_reads(java):
    messages = {name: codec.encode(name, sample(codec.schema(name), {})) for name in codec.names}
    lines = java("RoundTrip", str(AVRO_DIR),
                 stdin="".join(f"{name} {message.hex()}\n" for name, message in messages.items()))

    assert len(lines) == len(messages)
    for (name, message), line in zip(messages.items(), lines):
        assert not line.startswith("ERROR"), f"{name}: {line}"
        written_by_java = bytes.fromhex(line.split(" ", 1)[0])
        assert written_by_java == message, name  # same header, same body
        assert codec.decode(written_by_java) == codec.decode(message), name


def test_java_refuses_the_byte_reversed_header_the_exchange_can_still_read(java):
    """Messages from before the header was corrected: Java cannot resolve them (this was every
    message once); the exchange still reads them."""
    trade = codec.encode("exchange.Balance", {"asset": "SOL", "available": 5, "held": 2})
    legacy = MARKER + trade[2:10][::-1] + trade[10:]
    [line] = java("RoundTrip", str(AVRO_DIR), stdin=f"exchange.Balance {legacy.hex()}\n")
    assert line.startswith("ERROR org.apache.avro.message.MissingSchemaException")
    assert codec.decode(legacy) == codec.decode(trade)


@pytest.fixture(scope="module")
def trade_topic(infra) -> str:
    """A topic holding three trade batches, as the matching stage writes them."""
    topic = f"outside-consumers-{uuid.uuid4().hex[:8]}"
    template = sample(codec.schema("exchange.TradeBatch"), {})["trades"][0]
    batches = [{"market": "SOL_USDC", "trades": [{**template, "trade_id": n, "market": "SOL_USDC", "price": 15_000,
                                                  "quantity": 40_000, "taker_side": "buy"}]} for n in range(3)]

    async def produce() -> None:
        await create_topic(infra.kafka_bootstrap, topic, partitions=1)
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
        await producer.start()
        try:
            for batch in batches:
                await producer.send_and_wait(topic, codec.encode("exchange.TradeBatch", batch), key=b"SOL_USDC")
        finally:
            await producer.stop()

    asyncio.run(produce())
    return topic


def test_the_documented_java_consumer_reads_a_topic(infra, java, trade_topic):
    lines = java("ReadTopic", infra.kafka_bootstrap, trade_topic, "exchange.TradeBatch",
                 str(AVRO_DIR), "3")
    assert len(lines) == 3
    for n, line in enumerate(lines):
        assert f'"trade_id": {n}' in line and '"market": "SOL_USDC"' in line and '"price": 15000' in line


def test_the_documented_python_consumer_reads_a_topic(infra, trade_topic):
    done = subprocess.run([sys.executable, str(EXAMPLES / "read_topic.py"), infra.kafka_bootstrap, trade_topic,
                           str(AVRO_DIR), "3"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    for n, line in enumerate(lines):
        assert line.startswith("exchange.TradeBatch ")
        assert f"'trade_id': {n}," in line and "'price': 15000," in line and "'taker_side': 'buy'" in line
