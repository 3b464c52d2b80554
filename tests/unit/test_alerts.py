"""The alert rules and the Prometheus config that loads them, as promtool reads them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROMETHEUS = Path(__file__).resolve().parents[2] / "infra" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs Debian's prometheus package"
    return subprocess.run([tool, *args], capture_output=True, text=True, cwd=PROMETHEUS, timeout=60)


def test_the_alert_rules_are_valid():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0 and "SUCCESS: 10 rules found" in checked.stdout, checked.stdout + checked.stderr


def test_the_local_config_loads_the_rules():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0 and "1 rule files found" in checked.stdout, checked.stdout + checked.stderr
    compose = (PROMETHEUS / "prometheus.compose.yml").read_text()
    assert "/etc/prometheus/alerts.yml" in compose  # mounted there by infra/docker-compose.kafka.yml
