"""Every input topic of the worker and the recorder: a message a stage cannot use (not Avro,
another record type, or close to Kafka's size limit) goes to the dead-letter topic, and the stage
carries on with what comes after it."""

from __future__ import annotations

import os

from aiokafka import AIOKafkaProducer

from exchange.commands import deposit
from schemas.codec import codec
from schemas.topics import COMMANDS, DEAD_LETTERS, ORDERS, SETTLEMENTS
from streams.account import accounts_view
from streams.batch import DEAD_LETTER_VALUE_MAX
from streams.read_worker import READ_APP_ID, RECORDED

from .flow import INPUTS, define_markets, read_topic, suffix, table, wait_until_quiet

WORKER_INPUTS = (COMMANDS, SETTLEMENTS, ORDERS)
NEAR_THE_LIMIT = 1_000_000  # bytes; Kafka's default limit for a message is 1 MiB


async def test_garbage_on_every_input_topic_is_dead_lettered_and_the_stages_carry_on(infra, producer, workers):
    tag = suffix()
    markets = await define_markets(infra, tag)
    quote = next(iter(markets.values()))["quote"]
    account = f"dlq-{tag}"
    key = f"garbage-{tag}".encode()
    garbage = {
        "junk": f"not avro {tag}".encode(),
        "wrong type": codec.encode("exchange.Balance", {"asset": tag, "available": 1, "held": 0}),
        "huge": os.urandom(NEAR_THE_LIMIT),
    }
    topics = [*WORKER_INPUTS, *RECORDED]
    raw = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, max_request_size=2 * NEAR_THE_LIMIT)
    await raw.start()
    try:
        for topic in topics:
            for value in garbage.values():
                await raw.send_and_wait(topic.name, value, key=key, partition=0)
    finally:
        await raw.stop()
    workers.start("a")
    workers.start("recorder", "recorder")
    await producer.send([deposit(account, quote, 42)])  # after the garbage, on one of the partitions
    await wait_until_quiet(infra, workers)
    await wait_until_quiet(infra, workers, group=READ_APP_ID, inputs=tuple(t.name for t in RECORDED))

    letters = [codec.decode_as(DEAD_LETTERS.record, v) for _, v in await read_topic(infra, DEAD_LETTERS.name)]
    ours = [letter for letter in letters if letter["key"] == key]
    # At least once per reading agent (a rebalance may repeat one); trades are read by two agents.
    found = {(letter["topic"], bytes(letter["value"][:64])) for letter in ours}
    for topic in topics:
        for what, value in garbage.items():
            assert (topic.name, value[:64]) in found, f"{what} on {topic.name} was not dead-lettered"
    huge = [letter for letter in ours if len(letter["value"]) == DEAD_LETTER_VALUE_MAX]
    assert huge and all(f"of {NEAR_THE_LIMIT} bytes" in letter["reason"] for letter in huge)
    assert {letter["topic"] for letter in ours if "expected" in letter["reason"]} == {t.name for t in topics}

    # Not `outcome`: the garbage on the event topics is there for good.
    accounts = accounts_view(await table(infra, "accounts"))
    assert accounts[account]["balances"] == {quote: {"available": 42, "held": 0}}
    assert set(INPUTS) == {t.name for t in WORKER_INPUTS}
