"""Prometheus metrics of a worker or recorder: Faust's own sensors and the order flow's.

Counted per Kafka message (a batch of commands), not per command where that can be avoided:
a labelled counter costs about a microsecond, and the order flow's budget per message is small.
Served with the liveness check on a thread of its own (`--metrics-port`, health.py); the values
are only ever changed on the event loop.
"""

from __future__ import annotations

import asyncio
import logging

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from . import health
from .faust_internals import committed_offset

log = logging.getLogger("exchange.metrics")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

COMMANDS = Counter("exchange_commands_total", "Commands read by the accounts stage")
COMMAND_RESULTS = Counter("exchange_command_results_total",
                          "Commands answered with a result: deposits, withdrawals and refusals",
                          ["kind", "outcome"])
FORWARDED = Counter("exchange_commands_forwarded_total", "Commands accepted and forwarded to matching")
MATCHED = Counter("exchange_matching_commands_total", "Commands run by a market's engine", ["market"])
TRADES = Counter("exchange_trades_total", "Trades made", ["market"])
MATCHING_SECONDS = Histogram("exchange_matching_seconds",
                             "Time to decode and match one take of exchange.orders messages (one agent batch)",
                             buckets=LATENCY_BUCKETS)
COMMAND_AGE = Histogram("exchange_command_age_seconds",
                        "From a command's timestamp (when the API or producer made it) to its matching",
                        buckets=LATENCY_BUCKETS)
BATCH_SECONDS = Histogram("exchange_stage_batch_seconds",
                          "One batch of a stage, from taking it to its outputs being on Kafka", ["stage"],
                          buckets=LATENCY_BUCKETS)
ROWS_WRITTEN = Counter("exchange_recorder_rows_total", "Rows the recorder wrote to Cassandra")
CASSANDRA_REQUESTS = Counter("exchange_recorder_requests_total",
                             "Requests the recorder sent Cassandra: single statements and unlogged batches")
DEPTH_GAPS = Counter("exchange_recorder_depth_gaps_total",
                     "Depth updates the recorder skipped: updates before them are lost", ["market"])
DEAD_LETTERS = Counter("exchange_dead_letters_total", "Input messages sent to the dead-letter topic", ["topic"])
LAG = Gauge("exchange_consumer_lag_messages", "Messages on an assigned input partition past its committed offset",
            ["topic", "partition"])

LAG_EVERY = 5.0  # seconds
_lag_labels: set[tuple[str, str]] = set()  # the partitions the gauge has a value for


def install(app: faust.App, port: int | None, topics: set[str], host: str = "127.0.0.1") -> None:
    """With a port: Faust's sensors to Prometheus, the consumer-lag gauge, and the HTTP endpoint
    with its liveness check (health.py).

    Without one, only the counters above (the benchmarks and tests read nothing else), and
    Faust's own sensor stays: the Prometheus one adds a few microseconds to every event."""
    if port:
        app.monitor = LeanPrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))

        @app.timer(LAG_EVERY)
        async def _measure_lag() -> None:
            await measure_lag(app, topics)

        heartbeat = health.Heartbeat()

        @app.task
        async def _heartbeat() -> None:
            heartbeat.start(asyncio.get_running_loop())

        health.serve(host, port, heartbeat)
        log.info("metrics at http://%s:%s/metrics, liveness at /healthz", host, port)


class LeanPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus sensor with two counters per message instead of Faust's bookkeeping.

    For every message and event, Faust's sensor updated nine series (four of them looked up by
    label) and its base class kept timings nobody here reads: about 5 % of a worker serving the
    REST benchmark, where a message carries a few commands. What stays per message is what the
    dashboard plots (`faust_total_events_total`) and the count of messages read; the lag gauge
    (measure_lag) replaces the per-partition offsets, and rebalances, commits and sends are
    still Faust's own.
    """

    def on_message_in(self, tp, offset, message) -> None:
        self._metrics.messages_received.inc()

    def on_stream_event_in(self, tp, offset, stream, event) -> None:
        self._metrics.total_events.inc()
        return None  # no state: on_stream_event_out has nothing to time

    def on_stream_event_out(self, tp, offset, stream, event, state=None) -> None:
        pass

    def on_message_out(self, tp, offset, message) -> None:
        pass

    def track_tp_end_offset(self, tp, offset) -> None:
        pass


async def measure_lag(app: faust.App, topics: set[str]) -> None:
    consumer = app.consumer
    if app.rebalancing:
        return
    inputs = [tp for tp in consumer.assignment() if tp.topic in topics]
    try:
        ends = await consumer.highwaters(*inputs) if inputs else {}
    except Exception as exc:  # noqa: BLE001 - Kafka away: the gauge keeps its last value
        log.debug("consumer lag not measured: %s", exc)
        return
    measured = set()
    for tp in inputs:
        committed = committed_offset(consumer, tp) or 0  # None: the group never committed
        end = ends.get(tp)
        if end is not None:
            labels = (tp.topic, str(tp.partition))
            LAG.labels(*labels).set(max(0, end - committed))
            measured.add(labels)
    for gone in _lag_labels - measured:  # partitions that moved to another worker
        LAG.remove(*gone)
    _lag_labels.clear()
    _lag_labels.update(measured)
