"""One Cassandra 5.0 node on its own loopback address, started with `java` directly.

A ring of N nodes is N such nodes, node i on CASSANDRA_HOST's address plus i (127.0.0.1, 127.0.0.2,
...) with the same ports (JMX, which binds 127.0.0.1 whatever the node's address, takes its port
plus i), one token each spread evenly over the ring, the first node as the seed. They start one at a
time: each after the one before answers CQL.

Cassandra's own shell launcher refuses to run as root and assumes a tarball layout, so the JVM
flags it would add (from its `conf/jvm17-server.options`) are spelled out here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from exchange.config import Settings, node_host

from .process import ServerProcess
from .toolchain import CASSANDRA_VERSION, Java, fetch_jars

MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"

# Java 17 closes the JDK internals Cassandra reaches into; these reopen exactly those.
JAVA17_FLAGS = [
    "-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxGCPauseMillis=300",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.attach.allowAttachSelf=true",
    *[f"--add-exports={m}=ALL-UNNAMED" for m in (
        "java.base/jdk.internal.misc", "java.management.rmi/com.sun.jmx.remote.internal.rmi",
        "java.management/com.sun.jmx.remote.security", "java.rmi/sun.rmi.registry",
        "java.rmi/sun.rmi.server", "java.sql/java.sql", "java.base/java.lang.ref",
        "jdk.unsupported/sun.misc",
    )],
    *[f"--add-opens={m}=ALL-UNNAMED" for m in (
        "java.base/java.lang.module", "java.base/jdk.internal.loader", "java.base/jdk.internal.ref",
        "java.base/jdk.internal.reflect", "java.base/jdk.internal.math", "java.base/jdk.internal.module",
        "java.base/jdk.internal.util.jar", "java.base/sun.nio.ch", "java.base/java.io",
        "java.base/java.lang.reflect", "java.base/java.lang", "java.base/java.util", "java.base/java.nio",
        "jdk.management/com.sun.management.internal",
    )],
    "-Dio.netty.tryReflectionSetAccessible=true",
]

CASSANDRA_YAML = """\
cluster_name: kafka-exchange-local
num_tokens: 1
initial_token: {token}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: {host}
rpc_address: {host}
storage_port: {storage_port}
native_transport_port: {native_port}
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seed}:{storage_port}"
# A new ring's nodes are empty: nothing to stream when one joins.
auto_bootstrap: false
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories: [{home}/data]
commitlog_directory: {home}/commitlog
saved_caches_directory: {home}/saved_caches
hints_directory: {home}/hints
cdc_raw_directory: {home}/cdc
auto_snapshot: false
# The recorder sends a take's rows in few unlogged batches across partitions
# (streams/cassandra_sink.py), of about 24 KiB each: not worth a warning per batch.
batch_size_warn_threshold: 40KiB
unlogged_batch_across_partitions_warn_threshold: 1000
"""

LOGBACK_XML = """\
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>{home}/system.log</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>{home}/system.log.%i</fileNamePattern><maxIndex>3</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>20MB</maxFileSize>
    </triggeringPolicy>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
"""


def token(index: int, nodes: int) -> int:
    """Node `index`'s token: the ring's range split evenly, the first node at 0 (as a single node is)."""
    value = index * (2**64 // nodes)
    return value - 2**64 if value >= 2**63 else value


class CassandraNode:
    def __init__(self, settings: Settings, fast_unsafe: bool = False, index: int = 0) -> None:
        self.settings = settings
        self.index = index
        self.name = "cassandra" if settings.cassandra_nodes == 1 else f"cassandra-{index + 1}"
        # The first node keeps the single-node layout's directory, so an existing install keeps its data.
        self.home = settings.state_dir / ("cassandra" if index == 0 else f"cassandra-{index + 1}")
        self.host = node_host(settings.cassandra_host, index)
        self.jmx_port = settings.cassandra_jmx_port + index
        self.process = ServerProcess("cassandra", self.home)
        self.log_file = self.home / "system.log"
        # Tests skip fsync: their data is thrown away, and fsync dominates on a busy disk.
        self.fast_unsafe = fast_unsafe

    @property
    def address(self) -> str:
        return f"{self.host}:{self.settings.cassandra_port}"

    @property
    def ports(self) -> list[tuple[str, int]]:
        s = self.settings
        return [(self.host, s.cassandra_port), (self.host, s.cassandra_storage_port), ("127.0.0.1", self.jmx_port)]

    def fetch(self) -> Path:
        return fetch_jars("cassandra", CASSANDRA_VERSION, self.settings.cache_dir)

    def start(self, java: Java) -> int:
        jars = self.fetch()
        self.home.mkdir(parents=True, exist_ok=True)
        s = self.settings
        config = self.home / "cassandra.yaml"
        config.write_text(CASSANDRA_YAML.format(
            host=self.host, seed=node_host(s.cassandra_host, 0), storage_port=s.cassandra_storage_port,
            native_port=s.cassandra_port, home=self.home, token=token(self.index, s.cassandra_nodes),
        ))
        logback = self.home / "logback.xml"
        logback.write_text(LOGBACK_XML.format(home=self.home))
        jamm = next(jars.glob("jamm-*.jar"))
        argv = [
            java.executable, f"-Xms{s.cassandra_heap}", f"-Xmx{s.cassandra_heap}", *JAVA17_FLAGS,
            f"-javaagent:{jamm}",
            f"-Dcassandra.config=file://{config}",
            "-Dcassandra-foreground=yes",  # otherwise it closes stdout and stderr
            f"-Dcassandra.logdir={self.home}",
            f"-Dlogback.configurationFile=file://{logback}",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            f"-Djna.tmpdir={self.home}",
            *self._ring_flags(),
            "-Dchronicle.analytics.disable=true",
            *(["-Dcassandra.skip_sync=true"] if self.fast_unsafe else []),
            "-cp", f"{jars}/*", MAIN_CLASS,
        ]
        return self.process.start(argv, cwd=self.home)

    def _ring_flags(self) -> list[str]:
        if self.settings.cassandra_nodes == 1:
            return ["-Dcassandra.skip_wait_for_gossip_to_settle=0"]  # one node: nothing to settle
        # Nodes start one at a time, each after the previous answers, so gossip has little to
        # settle: a short settling wait, and a ring delay of seconds rather than 30.
        return [
            "-Dcassandra.ring_delay_ms=3000",
            "-Dcassandra.gossip_settle_min_wait_ms=1000",
            "-Dcassandra.gossip_settle_interval_ms=500",
            "-Dcassandra.gossip_settle_poll_success_required=2",
        ]

    def answers(self, timeout: float = 5.0) -> bool:
        """True when a CQL query to this node gets an answer."""
        from exchange.db import cluster as open_cluster  # late: the driver is slow to import

        cluster = open_cluster(self.settings, timeout, only_host=self.host)
        quiet = logging.getLogger("cassandra")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)  # a refused connection while starting is expected
        try:
            session = cluster.connect()
            return session.execute("SELECT release_version FROM system.local", timeout=timeout).one() is not None
        except Exception:  # while starting, the driver raises several unrelated kinds
            return False
        finally:
            cluster.shutdown()
            quiet.setLevel(level)

