"""The matching agent's supervisor restarts every actor a rebalance cancels, and still gives up on
an actor that crashes in a loop."""

from __future__ import annotations

import pytest
from mode import OneForOneSupervisor
from mode.exceptions import MaxRestartsExceeded

from streams.faust_support import RebalanceSupervisor


async def restarts(supervisor, n: int) -> int:
    """How many of n restarts at once its bucket lets through."""
    done = 0
    for _ in range(n):
        try:
            async with supervisor._bucket:
                done += 1
        except MaxRestartsExceeded:
            break
    return done


async def test_faust_s_default_supervisor_lets_only_one_restart_through_at_once():
    # What Faust builds for an agent (agents/agent.py `_new_supervisor`): the reason for the subclass.
    assert await restarts(OneForOneSupervisor(max_restarts=100.0, over=1.0, raises=MaxRestartsExceeded), 2) == 1


async def test_a_rebalance_of_every_partition_restarts_every_actor():
    supervisor = RebalanceSupervisor(max_restarts=100.0, over=1.0, raises=MaxRestartsExceeded)
    assert await restarts(supervisor, 24) == 24  # twice 12 partitions, the default count


async def test_an_actor_crashing_in_a_loop_still_stops_the_worker():
    supervisor = RebalanceSupervisor(max_restarts=100.0, over=1.0, raises=MaxRestartsExceeded)
    with pytest.raises(MaxRestartsExceeded):
        for _ in range(RebalanceSupervisor.RESTART_BURST + 1):
            async with supervisor._bucket:
                pass
