"""The fetch wait stretches only after a quiet spell, and snaps back with the first records."""

from __future__ import annotations

import pytest

from exchange import fetch_wait
from exchange.fetch_wait import _Adaptive


def test_the_wait_stays_short_while_records_flow_and_grows_only_after_a_quiet_spell():
    policy = _Adaptive(busy_ms=10, idle_ms=500, idle_after_s=1.0)
    policy.last_records = 100.0
    assert policy.wait_after(True, 100.0) == 10
    assert policy.wait_after(False, 100.5) == 10  # a gap between takes is not idleness
    assert policy.wait_after(False, 101.0) == 500
    assert policy.wait_after(False, 160.0) == 500
    assert policy.wait_after(True, 160.1) == 10  # the first records put the short wait back
    assert policy.wait_after(False, 160.2) == 10


def test_a_consumer_configured_with_a_long_wait_keeps_it():
    assert _Adaptive(busy_ms=900, idle_ms=500, idle_after_s=1.0).wait_after(False, 1e9) == 900


def test_an_aiokafka_outside_the_checked_range_is_refused():
    fetch_wait.check_version()  # the pinned one
    for version in ("0.11.0", "0.15.0", "1.0.0"):
        with pytest.raises(RuntimeError, match="aiokafka"):
            fetch_wait.check_version(version)


def test_install_is_idempotent_and_patches_the_fetcher_once():
    from aiokafka.consumer.fetcher import Fetcher

    fetch_wait.install()
    patched = Fetcher._proc_fetch_request
    fetch_wait.install()
    assert Fetcher._proc_fetch_request is patched
