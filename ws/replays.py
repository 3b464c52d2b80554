"""Hiding what a worker sends again after a crash.

A restarted matching worker replays the messages it had not yet committed and makes the same
events with the same sequence numbers, but not always in the same messages: a take of several
input messages may be replayed as two. So a client could see a trade twice, or an order's
earlier partial fill after a later one. The hub forwards each thing only when its sequence number
is above the last one it forwarded for the same key (a market's trades and depth, an order).
"""

from __future__ import annotations

from typing import Hashable


class LastForwarded:
    """The highest sequence number forwarded per key, for up to `limit` keys (then all are
    forgotten: a bound on memory for one key per order, at the cost of letting a late
    duplicate through just after)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._last: dict[Hashable, int] = {}

    def is_new(self, key: Hashable, seq: int) -> bool:
        """True, and remembered, if `seq` is above the last one forwarded for `key`."""
        last = self._last.get(key)
        if last is not None and seq <= last:
            return False
        if last is None and len(self._last) >= self.limit:
            self._last.clear()
        self._last[key] = seq
        return True
