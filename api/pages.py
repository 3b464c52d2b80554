"""Pages of rows listed newest first by a time that several rows can share (fills, ledger entries).

A trade's ledger legs, or the fills of one order crossing several makers, carry the same
millisecond, so "older than the last row's time" would skip the rest of them at a page's end.
A cursor is `<ts>:<skip>`: rows at `ts` or older, less the first `skip` rows at `ts` that earlier
pages returned (rows never change once written, so those come first again, in the same order).
"""

from __future__ import annotations

from starlette.requests import Request

from .errors import bad_request
from .inputs import DIGITS, NEWEST

MAX_SKIP = 10_000  # rows of one account in one millisecond; more is a forged cursor


def time_cursor(request: Request) -> tuple[int, int]:
    """(ts, skip) from `?cursor=`; the first page has none."""
    value = request.query_params.get("cursor")
    if value is None:
        return NEWEST, 0
    ts, colon, skip = value.partition(":")
    if not colon:  # a cursor from before skips existed: a bare time, meaning "older than it"
        skip = "0"
    if not (DIGITS.fullmatch(ts) and DIGITS.fullmatch(skip)) or int(ts) > NEWEST or int(skip) > MAX_SKIP:
        raise bad_request("cursor must be the `next` value of the previous page")
    return (int(ts), int(skip)) if colon else (int(ts) - 1, 0)


def time_page(rows: list, ts: int, skip: int, size: int) -> tuple[list, str | None]:
    """The page and its `next`, from the answer to "ts <= cursor's ts, newest first, LIMIT size + skip"."""
    page = rows[skip:]
    if len(page) < size:
        return page, None
    last = page[-1].ts
    at_last = sum(1 for row in page if row.ts == last) + (skip if last == ts else 0)
    return page, f"{last}:{at_last}"
