"""One Kafka node in KRaft mode, broker and controller at once, bound to 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path

from exchange.config import Settings

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


def server_properties(settings: Settings, data_dir: Path) -> str:
    host = settings.kafka_host
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{settings.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{host}:{settings.kafka_port},CONTROLLER://{host}:{settings.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{settings.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        # One node: every internal topic can have only one replica.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        # The default 3 s wait before the first rebalance of a new group slows every start.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created explicitly with their catalogue settings; a typo must not create one.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


class KafkaNode:
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.state_dir / "kafka"
        self.data_dir = self.home / "data"
        self.process = ServerProcess("kafka", self.home)
        self.log_file = self.home / "server.log"

    @property
    def address(self) -> str:
        return self.settings.kafka_bootstrap

    @property
    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    def fetch(self) -> Path:
        return fetch_jars("kafka", KAFKA_VERSION, self.settings.cache_dir)

    def start(self, java: Java) -> int:
        jars = self.fetch()
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(server_properties(self.settings, self.data_dir))
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
        cluster_id = subprocess.run(
            jvm + [STORAGE_TOOL, "random-uuid"], capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[-1]
        result = subprocess.run(
            jvm + [STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(config)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise ToolchainError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def answers(self, timeout: float = 3.0) -> bool:
        """True when the broker answers a metadata request and knows itself as a broker."""
        return asyncio.run(_metadata_answers(self.address, timeout))


async def _metadata_answers(bootstrap: str, timeout: float) -> bool:
    from aiokafka import AIOKafkaClient  # imported late: `exchange --help` need not pay for it
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # "unable to connect" is the expected answer while starting
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        return bool(client.cluster.brokers())
    except (KafkaError, OSError, asyncio.TimeoutError):
        return False
    finally:
        await client.close()
        quiet.setLevel(level)
