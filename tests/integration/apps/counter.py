"""A minimal Faust app for the infrastructure tests: counts keys in a RocksDB-backed table.

Each input message increments its key's count and the new count is sent to an output topic, so the
test can read the table's state from outside without touching the worker.
Run as `python -m tests.integration.apps.counter worker`; configured by environment variables.
"""

import os

import faust

app = faust.App(
    os.environ["COUNTER_APP_ID"],
    broker=f"kafka://{os.environ['KAFKA_HOST']}:{os.environ['KAFKA_PORT']}",
    store="rocksdb://",
    datadir=os.environ["COUNTER_DATA_DIR"],
    topic_partitions=2,
    web_enabled=False,
    key_serializer="raw",
    value_serializer="raw",
)

increments = app.topic(os.environ["COUNTER_IN"], partitions=2)
totals = app.topic(os.environ["COUNTER_OUT"], partitions=1)
counts = app.Table("counts", default=int, partitions=2, key_type=bytes, value_type=int)


@app.agent(increments)
async def count(stream):
    async for key, _ in stream.items():
        counts[key] += 1
        await totals.send(key=key, value=str(counts[key]).encode())


if __name__ == "__main__":
    app.main()
