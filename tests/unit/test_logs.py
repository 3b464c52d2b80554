"""The structured log line every process writes: one JSON object, the ids as fields."""

import io
import json
import logging
import os

import pytest

from exchange import logs


@pytest.fixture
def root_to(monkeypatch):
    """Route the root logger to a buffer in a format, as `logs.configure` does, and put it back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()

    def configure(log_format: str) -> io.StringIO:
        monkeypatch.setattr("sys.stderr", buffer)
        logs.configure(log_format, "api")
        return buffer

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_line_has_the_ids_and_nothing_else_from_extra(root_to):
    out = root_to("json")
    logging.getLogger("exchange.api.orders").info(
        "order placed", extra={"order_id": 7, "account": "u1", "market": "SOL_USDC", "status": "NEW",
                               "reason": None, "password": "never shown"})
    entry = json.loads(out.getvalue())
    assert entry["message"] == "order placed" and entry["logger"] == "exchange.api.orders"
    assert entry["process"] == "api" and entry["level"] == "info" and entry["ts"].endswith("Z")
    assert {k: entry[k] for k in ("order_id", "account", "market", "status")} == \
        {"order_id": 7, "account": "u1", "market": "SOL_USDC", "status": "NEW"}
    assert "reason" not in entry and "password" not in entry


def test_lighter_records_keep_what_the_text_format_shows(root_to):
    out = root_to("text")
    assert logging._srcfile is None  # configure() stops the walk up the stack for the caller
    logging.getLogger("exchange.test").warning("disk %s", "full")
    line = out.getvalue()
    assert f"[{os.getpid()}] [WARNING] exchange.test: disk full" in line
