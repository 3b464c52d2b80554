"""Paging by a time several rows share: every row exactly once, whatever the page size."""

from __future__ import annotations

from collections import namedtuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.errors import ApiError
from api.pages import MAX_SKIP, NEWEST, time_cursor, time_page

Row = namedtuple("Row", "ts n")


def request(cursor: str | None) -> Request:
    query = b"" if cursor is None else f"cursor={cursor}".encode()
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []})


@given(st.lists(st.integers(0, 5), max_size=60), st.integers(1, 7))
def test_paging_returns_every_row_once_in_order(times, size):
    rows = [Row(ts, n) for n, ts in enumerate(sorted(times, reverse=True))]  # newest first, ties kept
    seen, cursor = [], None
    for _ in range(len(rows) + 2):
        ts, skip = time_cursor(request(cursor))
        answer = [r for r in rows if r.ts <= ts][:size + skip]  # what Cassandra answers
        page, cursor = time_page(answer, ts, skip, size)
        assert len(page) <= size
        seen += page
        if cursor is None:
            break
    assert seen == rows


def test_cursors_are_checked_and_old_bare_times_still_work():
    assert time_cursor(request(None)) == (NEWEST, 0)
    assert time_cursor(request("1700000000000:3")) == (1700000000000, 3)
    assert time_cursor(request("1700000000000")) == (1699999999999, 0)  # "older than" it, as before
    for bad in ("x", "1:x", "-1:0", f"1:{MAX_SKIP + 1}", "1:2:3", str(2**63), ":"):
        with pytest.raises(ApiError):
            time_cursor(request(bad))
