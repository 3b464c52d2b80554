"""A Faust worker's RocksDB-backed table survives restarts, and is rebuilt from its changelog."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration.test_kafka import create_topic

REPO = Path(__file__).resolve().parents[2]


class CounterWorker:
    """The counter app as a real worker process, started and stopped like an operator would."""

    def __init__(self, infra, data_dir: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.topic_in, self.topic_out = f"counter-in-{suffix}", f"counter-out-{suffix}"
        self.data_dir = data_dir
        self.env = os.environ | infra.to_env() | {
            "COUNTER_APP_ID": f"counter-{suffix}",
            "COUNTER_DATA_DIR": str(data_dir),
            "COUNTER_IN": self.topic_in,
            "COUNTER_OUT": self.topic_out,
        }
        self.log = data_dir.parent / f"worker-{suffix}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.apps.counter", "worker", "-l", "warn"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker ignored SIGTERM; see {self.log}") from exc


async def send_increments(bootstrap: str, topic: str, keys: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key in keys:
            await producer.send(topic, key=key, value=b"+1")
        await producer.flush()
    finally:
        await producer.stop()


async def wait_for_totals(worker: CounterWorker, bootstrap: str, expected: dict[bytes, int],
                          timeout: float = 120.0) -> None:
    """Read the output topic until each key's latest count equals the expected one."""
    consumer = AIOKafkaConsumer(worker.topic_out, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    latest: dict[bytes, int] = {}
    try:
        async def follow() -> None:
            while any(latest.get(k) != v for k, v in expected.items()):
                assert worker.proc.poll() is None, f"worker exited; see {worker.log}"
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        latest[record.key] = int(record.value)
        await asyncio.wait_for(follow(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"expected counts {expected}, the worker reported {latest}") from None
    finally:
        await consumer.stop()


async def wait_for_changelog(worker: CounterWorker, bootstrap: str, expected: dict[bytes, int],
                             timeout: float = 60.0) -> None:
    """Read the table's changelog until it holds `expected` writes per key.

    Faust queues a table write's changelog message in its producer buffer and sends it a moment
    later; a worker stopped in that moment can drop it (the exchange's own stages write their
    changelogs themselves for this reason, see streams/table_writer.py). What this test checks is
    what a complete changelog brings back, so it stops the worker only once the changelog is.
    """
    topic = f"{worker.env['COUNTER_APP_ID']}-counts-changelog"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    writes: dict[bytes, int] = {}
    try:
        async def follow() -> None:
            while any(writes.get(k, 0) < v for k, v in expected.items()):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        writes[record.key] = writes.get(record.key, 0) + 1
        await asyncio.wait_for(follow(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"expected {expected} changelog writes, found {writes}") from None
    finally:
        await consumer.stop()


async def test_table_state_survives_restart_and_loss_of_local_rocksdb(infra, tmp_path):
    bootstrap = infra.kafka_bootstrap
    worker = CounterWorker(infra, tmp_path / "faust-data")
    await create_topic(bootstrap, worker.topic_in, partitions=2)
    await create_topic(bootstrap, worker.topic_out, partitions=1)
    try:
        worker.start()
        await send_increments(bootstrap, worker.topic_in, [b"a", b"a", b"b", b"a", b"b"])
        await wait_for_totals(worker, bootstrap, {b"a": 3, b"b": 2})
        await wait_for_changelog(worker, bootstrap, {b"a": 3, b"b": 2})
        worker.stop()
        rocksdb_dirs = list(worker.data_dir.rglob("*.db"))
        assert rocksdb_dirs, "the table should be stored in RocksDB under the data dir"

        # A plain restart reads the table back from the local RocksDB files.
        worker.start()
        await send_increments(bootstrap, worker.topic_in, [b"a", b"b"])
        await wait_for_totals(worker, bootstrap, {b"a": 4, b"b": 3})
        await wait_for_changelog(worker, bootstrap, {b"a": 4, b"b": 3})
        worker.stop()

        # With the local files gone, only the changelog topic can bring the counts back.
        shutil.rmtree(worker.data_dir)
        worker.start()
        await send_increments(bootstrap, worker.topic_in, [b"a", b"b", b"c"])
        await wait_for_totals(worker, bootstrap, {b"a": 5, b"b": 4, b"c": 1})
    finally:
        if worker.proc and worker.proc.poll() is None:
            worker.stop()
