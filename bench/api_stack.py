"""What the REST benchmark runs on: fresh servers, the exchange's processes for one phase, and
the counters read around the measured window.

Each version of the code gets a Kafka and a Cassandra of its own (new state directory, free
ports), started once and kept for all of its phases, so the servers' JIT is warm for every
phase and a baseline (`--baseline`) never reads what this version wrote. The worker, recorder
and API of a phase run as `python -m exchange.cli` from a source tree (this one or the
baseline's) with a state directory of their own; they restore what earlier phases left in
the topics, and the recorder records it, before the measured window starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from exchange.config import Settings
from exchange.demo import define_demo_markets
from exchange.kafka_io import ensure_topics, group_coordinator_ready
from infra.local import runner
from infra.local.ports import free_port
from streams.read_worker import READ_APP_ID
from streams.recorder_stage import RECORDED

from .load import CpuSample, cpu_sample
from .pipeline import wait_caught_up

ROOT = Path(__file__).resolve().parent.parent


def fresh_settings(state: Path) -> Settings:
    env = Settings.from_env().to_env() | {
        "EXCHANGE_STATE_DIR": str(state), "KAFKA_PORT": str(free_port()), "KAFKA_CONTROLLER_PORT": str(free_port()),
        "CASSANDRA_PORT": str(free_port()), "CASSANDRA_STORAGE_PORT": str(free_port()),
        "CASSANDRA_JMX_PORT": str(free_port()),
    }
    return Settings.from_env(env)


class Servers:
    """A fresh Kafka and Cassandra for one version of the code, kept for all of its phases."""

    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="bench-api-"))
        self.settings = fresh_settings(self.state / "servers")

    async def __aenter__(self) -> "Servers":
        await asyncio.to_thread(runner.up, self.settings)
        try:
            await group_coordinator_ready(self.settings)
            await ensure_topics(self.settings)
            await define_demo_markets(self.settings)
        except BaseException:
            await asyncio.to_thread(runner.down, self.settings)
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(runner.down, self.settings)


class Stack:
    """A worker, the API and (with `recorder`) a recorder from the source tree `code`, on `servers`."""

    def __init__(self, servers: Servers, code: Path, recorder: bool) -> None:
        self.servers, self.settings = servers, servers.settings
        self.code, self.recorder = code, recorder
        self.state = Path(tempfile.mkdtemp(prefix="phase-", dir=servers.state))
        self.port = free_port()
        self.metrics = {"worker": free_port(), **({"recorder": free_port()} if recorder else {})}
        self.procs: dict[str, subprocess.Popen] = {}

    async def __aenter__(self) -> "Stack":
        env = os.environ | self.settings.to_env() | {"EXCHANGE_STATE_DIR": str(self.state),
                                                      "API_PORT": str(self.port), "PYTHONPATH": str(self.code)}
        runs = [["worker", "--name", "bench", "--loglevel", "info", "--metrics-port", str(self.metrics["worker"])]]
        if self.recorder:
            runs.append(["recorder", "--name", "bench", "--loglevel", "info",
                         "--metrics-port", str(self.metrics["recorder"])])
        runs.append(["api"])
        for args in runs:
            log = open(self.state / f"{args[0]}.log", "wb")
            self.procs[args[0]] = subprocess.Popen([sys.executable, "-m", "exchange.cli", *args], env=env,
                                                   cwd=self.code, stdout=log, stderr=subprocess.STDOUT)
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    def pids(self) -> dict[str, int]:
        servers = {node.name: node.process.pid() for node in runner.nodes(self.settings)}
        return ({name: proc.pid for name, proc in self.procs.items()} | {"load client": os.getpid()}
                | {name: pid for name, pid in servers.items() if pid is not None})

    async def ready(self, http: httpx.AsyncClient, timeout: float = 300.0) -> None:
        from exchange.up import worker_ready

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"the {name} exited; see {self.state / (name + '.log')}")
            try:
                if all(worker_ready(self.state / f"{n}.log") for n in self.procs if n != "api") and \
                        (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        raise TimeoutError(f"the exchange did not start; logs in {self.state}")

    async def sample(self, http: httpx.AsyncClient) -> "Sample":
        metrics = {name: (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                   for name, port in self.metrics.items()}
        return Sample(cpu_sample(self.pids()), await kafka_records(self.settings), metrics)

    async def caught_up(self, timeout: float = 300.0) -> float:
        """Seconds until every running group has committed all of its inputs (Faust commits a few
        times a second, so this is an upper bound on the lag's return to zero)."""
        started = time.monotonic()
        await wait_caught_up(self.settings, timeout)  # the order path's group
        if self.recorder:
            await wait_caught_up(self.settings, timeout, READ_APP_ID, tuple(topic.name for topic in RECORDED))
        return time.monotonic() - started


@dataclass
class Sample:
    cpu: CpuSample
    kafka_records: int  # on every topic, changelogs included
    metrics: dict[str, str]  # Prometheus text by process


def counter(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """A counter's total over its series with these labels; None if the process has no such counter."""
    total, seen = 0.0, False
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (labels or {}).items() <= sample.labels.items():
                total, seen = total + sample.value, True
    return total if seen else None


async def kafka_records(settings: Settings) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await consumer.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
        tps = [TopicPartition(d["topic"], p["partition"]) for d in await admin.describe_topics(topics)
               for p in d["partitions"]]
        return sum((await consumer.end_offsets(tps)).values()) if tps else 0
    finally:
        await consumer.stop()
        await admin.close()
