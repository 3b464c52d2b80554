"""The worker's Faust sensor: what the dashboard plots is still counted, per message."""

from faust.sensors.prometheus import FaustMetrics
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.metrics import LeanPrometheusMonitor


class _Message:
    time_in = None


def test_counts_messages_and_events_the_dashboard_plots():
    registry = CollectorRegistry()
    monitor = LeanPrometheusMonitor(metrics=FaustMetrics.create(registry, "faust"))
    tp = TP("exchange.commands", 2)
    for offset in range(3):
        message = _Message()
        monitor.on_message_in(tp, offset, message)
        state = monitor.on_stream_event_in(tp, offset, None, None)
        monitor.on_stream_event_out(tp, offset, None, None, state)
        monitor.on_message_out(tp, offset, message)
        monitor.track_tp_end_offset(tp, offset + 1)
    assert registry.get_sample_value("faust_total_events_total") == 3
    assert registry.get_sample_value("faust_messages_received_total") == 3
    # Nothing is kept per message: no timings, no per-partition series.
    assert monitor.events_total == 0 and not monitor.tp_end_offsets
