"""Binance's request limits: request weight per minute per client address, new orders per 10 s
per account (BINANCE_WEIGHT_PER_MINUTE, BINANCE_ORDERS_PER_10S). Past either, 429 with Retry-After
(-1003, -1015); every answer says the weight used in `X-MBX-USED-WEIGHT-1M`, as Binance's do.
Counted per API process."""

from __future__ import annotations

import time
from collections import deque

from . import errors


class Window:
    """Amounts within a sliding window, per key."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}

    def _trim(self, key: str, now: float) -> deque[tuple[float, int]]:
        spent = self._spent.setdefault(key, deque())
        while spent and spent[0][0] <= now - self.seconds:
            _, amount = spent.popleft()
            self._totals[key] -= amount
        if not spent:
            self._spent.pop(key, None)
            self._totals.pop(key, None)
            spent = self._spent.setdefault(key, deque())
        return spent

    def spend(self, key: str, amount: int, limit: int) -> tuple[int, float]:
        """Spend `amount` if it fits: (the total now, 0); otherwise (the total, seconds to wait)."""
        now = time.monotonic()
        spent = self._trim(key, now)
        total = self._totals.get(key, 0)
        if total + amount > limit:
            return total, max(0.0, spent[0][0] + self.seconds - now) if spent else self.seconds
        spent.append((now, amount))
        self._totals[key] = total + amount
        return total + amount, 0.0

    def forget_idle(self) -> None:
        now = time.monotonic()
        for key in list(self._spent):
            self._trim(key, now)


class Limits:
    def __init__(self, weight_per_minute: int, orders_per_10s: int) -> None:
        self.weight_per_minute, self.orders_per_10s = weight_per_minute, orders_per_10s
        self.weights = Window(60.0)
        self.orders = Window(10.0)
        self._calls = 0

    def weigh(self, client: str, weight: int) -> int:
        """Spend a request's weight; the minute's total, or 429."""
        self._calls += 1
        if self._calls % 10_000 == 0:
            self.weights.forget_idle()
            self.orders.forget_idle()
        total, wait = self.weights.spend(client, weight, self.weight_per_minute)
        if wait:
            raise errors.too_many_requests(int(wait) + 1)
        return total

    def new_order(self, account: str) -> int:
        """Count a new order of the account; its orders in the last 10 s, or 429."""
        total, wait = self.orders.spend(account, 1, self.orders_per_10s)
        if wait:
            raise errors.too_many_orders(self.orders_per_10s, 10, int(wait) + 1)
        return total
