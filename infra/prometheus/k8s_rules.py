"""Write infra/k8s/monitoring/prometheus-rule.yaml from alerts.yml (`make k8s-rules`): the same
rules as a Prometheus Operator PrometheusRule."""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TARGET = HERE.parent / "k8s" / "monitoring" / "prometheus-rule.yaml"
HEADER = """\
# The exchange's alert rules (infra/prometheus/alerts.yml) as a Prometheus Operator PrometheusRule:
# `kubectl apply -k infra/k8s/monitoring` where the operator runs (its CRDs are not part of
# infra/k8s). Written by `make k8s-rules`; tests/unit/test_k8s.py checks that they agree.
"""


def main() -> None:
    rules = yaml.safe_load((HERE / "alerts.yml").read_text())
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "exchange-alerts", "namespace": "exchange",
                         "labels": {"app.kubernetes.io/part-of": "kafka-exchange"}},
            "spec": {"groups": rules["groups"]}}
    TARGET.write_text(HEADER + yaml.safe_dump(rule, sort_keys=False, width=1000))
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
