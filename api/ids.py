"""Order ids: unique across API processes, growing with time, so "newest first" is "largest first".

An id is (milliseconds since 2025-01-01) << 22 | node << 12 | sequence: 41 bits of time (69
years), a random 10-bit node per process, 4,096 ids per millisecond per process. Two processes
that drew the same node and place in the same millisecond could collide; the engine then rejects
the second order as a duplicate id, it is never merged into the first.
"""

from __future__ import annotations

import secrets
import time

EPOCH_MS = 1_735_689_600_000


class OrderIds:
    def __init__(self) -> None:
        self.node = secrets.randbelow(1024)
        self._last_ms = 0
        self._sequence = 0

    def next(self) -> int:
        now = time.time_ns() // 1_000_000 - EPOCH_MS
        if now <= self._last_ms:
            now = self._last_ms
            self._sequence += 1
            if self._sequence >= 4096:  # this millisecond is used up: borrow the next one
                now += 1
                self._sequence = 0
        else:
            self._sequence = 0
        self._last_ms = now
        return now << 22 | self.node << 12 | self._sequence
