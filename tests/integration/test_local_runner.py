"""`exchange infra up | down | status` as a user runs it, on its own throwaway servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import throwaway_settings


def exchange(settings, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | settings.to_env()
    return subprocess.run([sys.executable, "-m", "exchange.cli", "infra", *args],
                          env=env, capture_output=True, text=True, timeout=400)


def pids(settings) -> dict[str, int]:
    found = {}
    for name in ("kafka", "cassandra"):
        pid_file = Path(settings.state_dir) / name / f"{name}.pid"
        if pid_file.exists():
            found[name] = int(pid_file.read_text())
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_is_idempotent_and_down_leaves_nothing_running(tmp_path):
    settings = throwaway_settings(tmp_path / "state")
    try:
        assert exchange(settings, "status").returncode != 0, "nothing is running yet"

        first = exchange(settings, "up", "--fast-unsafe")
        assert first.returncode == 0, first.stderr
        assert "kafka: ready" in first.stderr and "cassandra: ready" in first.stderr
        started = pids(settings)
        assert set(started) == {"kafka", "cassandra"} and all(map(running, started.values()))

        second = exchange(settings, "up", "--fast-unsafe")
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        assert pids(settings) == started, "a second up must not start anything new"

        status = exchange(settings, "status")
        assert status.returncode == 0
        assert status.stdout.count("healthy") == 2

        stopped = exchange(settings, "down")
        assert stopped.returncode == 0, stopped.stderr
        assert not any(running(pid) for pid in started.values())
        assert pids(settings) == {}
        assert exchange(settings, "status").returncode != 0
    finally:
        exchange(settings, "down")


def test_data_survives_a_restart(tmp_path):
    """The state directory keeps topics: a topic created before down is there after up."""
    settings = throwaway_settings(tmp_path / "state")
    topic = "kept-across-restarts"
    create = [sys.executable, "-c", (
        "import asyncio, sys\n"
        "from aiokafka.admin import AIOKafkaAdminClient, NewTopic\n"
        "async def main(op):\n"
        f"    admin = AIOKafkaAdminClient(bootstrap_servers='{settings.kafka_bootstrap}')\n"
        "    await admin.start()\n"
        f"    if op == 'create': await admin.create_topics([NewTopic('{topic}', 3, 1)])\n"
        "    print(sorted(await admin.list_topics()))\n"
        "    await admin.close()\n"
        "asyncio.run(main(sys.argv[1]))\n"
    )]
    try:
        assert exchange(settings, "up", "--fast-unsafe").returncode == 0
        assert topic in subprocess.run(create + ["create"], capture_output=True, text=True, check=True).stdout
        assert exchange(settings, "down").returncode == 0
        assert exchange(settings, "up", "--fast-unsafe").returncode == 0
        assert topic in subprocess.run(create + ["list"], capture_output=True, text=True, check=True).stdout
    finally:
        exchange(settings, "down")
