"""An outside consumer of the exchange's topics in Python, with nothing but the .avsc files of
schemas/avro/, fastavro and a Kafka client (aiokafka here).

    python read_topic.py 127.0.0.1:9092 exchange.trades schemas/avro 10

prints the first 10 messages of the topic, one record a line. Each message is Avro single-object
encoded: C3 01, the writer schema's CRC-64-AVRO fingerprint (8 bytes, little-endian), the body.
"""

import asyncio
import io
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from fastavro import schemaless_reader
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form


def schemas_by_header(avro_dir: str) -> dict[bytes, dict]:
    """Every record type, by the 10 header bytes its messages start with."""
    found = {}
    for path in sorted(Path(avro_dir).glob("*.avsc")):
        schema = load_schema(path)  # finds the types it names in the files beside it
        if isinstance(schema, dict) and schema["type"] == "record":
            # fastavro gives the fingerprint's bytes in wire order, as hex.
            header = b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
            found[header] = schema
    return found


async def main(bootstrap: str, topic: str, avro_dir: str, count: int) -> None:
    schemas = schemas_by_header(avro_dir)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        for _ in range(count):
            message = await consumer.getone()
            schema = schemas[message.value[:10]]
            print(schema["name"], schemaless_reader(io.BytesIO(message.value[10:]), schema))
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
