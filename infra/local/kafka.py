"""One Kafka node in KRaft mode: broker and controller at once, on its own loopback address.

A cluster of N brokers is N such nodes, node i on KAFKA_HOST's address plus i (127.0.0.1,
127.0.0.2, ...) with the same ports, all formatted with one cluster id and voting in one
controller quorum. A cluster grown from one broker keeps its single controller: the added nodes
are brokers only (Kafka 3.9 cannot add voters to a quorum declared with `controller.quorum.voters`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import uuid
from pathlib import Path

from exchange.config import Settings, node_host

from .process import ServerProcess
from .toolchain import KAFKA_VERSION, Java, ToolchainError, fetch_jars

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

LOG4J = """\
log4j.rootLogger=INFO, file
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log_file}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def server_properties(settings: Settings, data_dir: Path, index: int = 0, controllers: int = 1) -> str:
    """Node `index` of `settings.kafka_brokers`; the first `controllers` nodes are also controllers."""
    host = node_host(settings.kafka_host, index)
    port, controller_port = settings.kafka_port, settings.kafka_controller_port
    brokers = settings.kafka_brokers
    voters = ",".join(f"{i + 1}@{node_host(settings.kafka_host, i)}:{controller_port}" for i in range(controllers))
    controller = index < controllers
    props = {
        "process.roles": "broker,controller" if controller else "broker",
        "node.id": str(index + 1),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{host}:{port}" + (f",CONTROLLER://{host}:{controller_port}" if controller else ""),
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
    }
    if brokers == 1:
        # One node: every internal topic can have only one replica.
        props |= {
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
        }
    else:
        replicas = min(3, brokers)
        props |= {
            # Topics created without a factor, and the internal ones, as the exchange's are: a write
            # acknowledged to acks=all is on at least two brokers, and only an in-sync replica leads.
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(2 if replicas >= 3 else 1),
            "offsets.topic.replication.factor": str(replicas),
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(2 if replicas >= 3 else 1),
            "unclean.leader.election.enable": "false",
            # A broker killed -9 is fenced, and its partitions led elsewhere, within about 4 s
            # (KRaft's default is 9 s).
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
        }
    props |= {
        # The default 3 s wait before the first rebalance of a new group slows every start.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created explicitly with their catalogue settings; a typo must not create one.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def new_cluster_id() -> str:
    """A cluster id as `kafka-storage random-uuid` makes one: a random UUID in URL-safe base64."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that read as command-line options
            return text


def formatted_cluster_id(data_dir: Path) -> str | None:
    """The cluster id a node's storage was formatted with, if it was."""
    try:
        lines = (data_dir / "meta.properties").read_text().splitlines()
    except FileNotFoundError:
        return None
    return next((line.split("=", 1)[1].strip() for line in lines if line.startswith("cluster.id=")), None)


class KafkaNode:
    def __init__(self, settings: Settings, index: int = 0, controllers: int = 1, cluster_id: str = "") -> None:
        self.settings = settings
        self.index = index
        self.controllers = controllers
        self.cluster_id = cluster_id
        # The first node keeps the single-node layout's directory, so an existing install keeps its data.
        self.name = "kafka" if settings.kafka_brokers == 1 else f"kafka-{index + 1}"
        self.home = settings.state_dir / ("kafka" if index == 0 else f"kafka-{index + 1}")
        self.data_dir = self.home / "data"
        self.process = ServerProcess("kafka", self.home)
        self.log_file = self.home / "server.log"
        self.host = node_host(settings.kafka_host, index)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.settings.kafka_port}"

    @property
    def ports(self) -> list[tuple[str, int]]:
        s = self.settings
        return [(self.host, s.kafka_port)] + ([(self.host, s.kafka_controller_port)]
                                              if self.index < self.controllers else [])

    def fetch(self) -> Path:
        return fetch_jars("kafka", KAFKA_VERSION, self.settings.cache_dir)

    def start(self, java: Java) -> int:
        jars = self.fetch()
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(server_properties(self.settings, self.data_dir, self.index, self.controllers))
        log4j = self.home / "log4j.properties"
        log4j.write_text(LOG4J.format(log_file=self.log_file))
        classpath = f"{jars}/*"
        jvm = [java.executable, "-cp", classpath, f"-Dlog4j.configuration=file:{log4j}"]
        self._format_once(jvm, config)
        heap = self.settings.kafka_heap
        # The log cleaner allocates 128 MiB at start, so the heap must not go below 512m.
        return self.process.start(
            jvm[:1] + [f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC"] + jvm[1:] + [MAIN_CLASS, str(config)],
            cwd=self.home,
        )

    def _format_once(self, jvm: list[str], config: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        result = subprocess.run(
            jvm + [STORAGE_TOOL, "format", "-t", self.cluster_id or new_cluster_id(), "-c", str(config)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise ToolchainError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def answers(self, timeout: float = 3.0) -> bool:
        """True when the broker answers a metadata request and knows itself as a registered broker."""
        return asyncio.run(_metadata_answers(self.address, timeout, self.index + 1))


async def _metadata_answers(bootstrap: str, timeout: float, node_id: int) -> bool:
    from aiokafka import AIOKafkaClient  # imported late: `exchange --help` need not pay for it
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # "unable to connect" is the expected answer while starting
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        return any(broker.nodeId == node_id for broker in client.cluster.brokers())
    except (KafkaError, OSError, asyncio.TimeoutError):
        return False
    finally:
        await client.close()
        quiet.setLevel(level)
