"""Finding Java and Maven, and fetching the servers' jars from Maven Central into a cache.

The jars are cached per server and version outside the clone, so a second run, another clone and
CI on the same machine start without fetching again.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

KAFKA_VERSION = "3.9.2"
CASSANDRA_VERSION = "5.0.9"
# Apache Avro for Java, fetched only by the tests that check the wire format against it.
AVRO_VERSION = "1.12.2"
# Pinned because Maven 3.8's default dependency plugin predates `copy-dependencies` options we use.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"

# Where Debian-style systems install JDKs, searched after JAVA_HOME and PATH.
JDK_GLOB = "/usr/lib/jvm/*/bin/java"

DOCKER_HINT = (
    "Without a local JDK, run the servers with Docker instead: "
    "docker compose -f infra/docker-compose.kafka.yml up kafka-1 kafka-2 kafka-3 cassandra"
)


class ToolchainError(RuntimeError):
    """Something the local runner needs is missing; the message says what to install."""


@dataclass(frozen=True)
class Java:
    executable: str
    major: int


def _java_major(executable: str) -> int | None:
    try:
        out = subprocess.run([executable, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major  # "1.8" means Java 8


def find_java() -> Java:
    """A Java 17 if there is one: Cassandra 5.0 runs on 11 and 17 only; Kafka is happy with 17.

    Looks at JAVA_HOME, then `java` on PATH, then the JDKs installed under /usr/lib/jvm.
    """
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(shutil.which("java"))
    candidates += sorted(glob.glob(JDK_GLOB))
    found = [Java(c, m) for c in candidates if (m := _java_major(c)) is not None]
    for java in found:
        if java.major == 17:
            return java
    newer = [j for j in found if j.major > 17]
    if newer:
        return newer[0]  # may work; Cassandra itself says so if it does not
    seen = ", ".join(f"{j.executable} (Java {j.major})" for j in found) or "no java at all"
    raise ToolchainError(
        f"Java 17 is required to run Kafka and Cassandra locally; found {seen}. "
        f"Install a JDK 17 (e.g. the openjdk-17-jdk package) or set JAVA_HOME. {DOCKER_HINT}"
    )


def find_maven() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise ToolchainError(
            "Maven (mvn) is required to fetch the Kafka and Cassandra jars; install the maven "
            f"package. {DOCKER_HINT}"
        )
    return mvn


def fetch_jars(server: str, version: str, cache_dir: Path) -> Path:
    """The directory holding every runtime jar of `server` at `version`, fetched once."""
    target = cache_dir / "jars" / f"{server}-{version}"
    done_marker = target / ".complete"
    if done_marker.exists():
        return target
    mvn = find_maven()
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    pom = resources.files("infra.local") / "poms" / f"{server}.xml"
    print(f"fetching {server} {version} jars with Maven (first run only)...", file=sys.stderr, flush=True)
    started = time.monotonic()
    with resources.as_file(pom) as pom_path:
        result = subprocess.run(
            [
                mvn, "-B", "-q", "-f", str(pom_path), f"-D{server}.version={version}",
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
            ],
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        raise ToolchainError(
            f"Maven could not fetch {server} {version}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    done = staging / ".complete"
    done.write_text(version)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # a half-fetched directory is never mistaken for a complete one
    count = len(list(target.glob("*.jar")))
    print(f"fetched {count} {server} jars in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
    return target
