"""One module holds every use of faust-streaming's private names, and checks the version (and one
more holds the aiokafka fetcher's, exchange/fetch_wait.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams import faust_internals

REPO = Path(__file__).resolve().parents[3]
SEAM = REPO / "streams" / "faust_internals.py"
SEAMS = (SEAM, REPO / "exchange" / "fetch_wait.py")
# Faust's private names the code has needed, and any private attribute of the Faust objects it holds.
PRIVATE = re.compile(
    r"\.(_committed_offset|_read_offset|_acked|_acked_index|_add_gap|_gap|_ensure_producer|_enable_passive|"
    r"_processors|_db_for_partition|_active_partitions|_paused_partitions|_buffered_partitions|"
    r"_fetch_max_wait_ms|_create_worker_consumer)\b"
    r"|\b(consumer|producer|stream|app|table|store|channel|thread)\._[a-z]\w*")
CODE = ("streams", "api", "ws", "exchange", "bench", "schemas", "infra")


def private_uses(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if PRIVATE.search(line.split("#", 1)[0])]


def test_no_module_but_the_seam_touches_faust_internals():
    found = {}
    for top in CODE:
        for path in (REPO / top).rglob("*.py"):
            if path not in SEAMS and (uses := private_uses(path.read_text())):
                found[str(path.relative_to(REPO))] = uses
    assert not found, f"Faust internals used outside streams/faust_internals.py: {found}"


def test_the_check_catches_a_private_use():
    assert private_uses("committed = consumer._committed_offset.get(tp)")
    assert private_uses("app.producer._ensure_producer()")
    assert private_uses("x = stream._something_new")
    assert not private_uses("committed = committed_offset(consumer, tp)  # not consumer._committed_offset")


def test_a_faust_outside_the_checked_range_is_refused_at_start():
    faust_internals.check_version("0.15.3")
    for version in ("0.14.9", "0.16.0", "1.0.0"):
        with pytest.raises(RuntimeError, match="faust-streaming"):
            faust_internals.check_version(version)


def test_faust_producers_are_made_idempotent():
    import faust

    faust_internals.idempotent_producer()
    faust_internals.idempotent_producer()  # twice changes nothing
    app = faust.App("idempotence-check", broker="kafka://127.0.0.1:9")
    extra = app.producer._settings_extra()
    assert extra["enable_idempotence"] is True and extra["acks"] == "all"
