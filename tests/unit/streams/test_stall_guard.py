"""The stall guard's word on a flow that stays stopped (the re-reading itself runs against a real
Faust worker in tests/integration)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from streams.stall_guard import FLOW_STOPPED_WARN_S, StallGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _guard() -> tuple[StallGuard, SimpleNamespace, Clock]:
    consumer = SimpleNamespace(flow_active=False, assignment=lambda: set())
    app = SimpleNamespace(rebalancing=True, consumer=consumer)
    clock = Clock()
    return StallGuard(app, {"exchange.commands"}, clock=clock), app, clock


def _checks(guard: StallGuard, clock: Clock, seconds: float, every: float = 2.0) -> None:
    for _ in range(int(seconds / every)):
        clock.now += every
        asyncio.run(guard.check())


def test_a_flow_stopped_past_the_limit_is_said_once_per_interval_until_it_runs(caplog):
    guard, app, clock = _guard()
    caplog.set_level(logging.WARNING, logger="exchange.stall_guard")
    asyncio.run(guard.check())
    _checks(guard, clock, FLOW_STOPPED_WARN_S - 4)
    assert not caplog.records  # a rebalance takes seconds: nothing to say
    _checks(guard, clock, 4)
    said = [r.getMessage() for r in caplog.records]
    assert said == ["nothing read for 60 s: the flow is stopped (rebalancing: True)"]
    _checks(guard, clock, FLOW_STOPPED_WARN_S - 2)
    assert len(caplog.records) == 1
    _checks(guard, clock, 2)
    assert len(caplog.records) == 2  # and again a minute later

    app.rebalancing, app.consumer.flow_active = False, True  # running again: the count starts over
    asyncio.run(guard.check())
    app.rebalancing = True
    _checks(guard, clock, FLOW_STOPPED_WARN_S - 2)
    assert len(caplog.records) == 2
