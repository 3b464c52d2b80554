"""Resting orders, grouped into price levels, grouped into the two sides of a book.

Layout, chosen for the hot paths (place, cancel, take from the best level):

- A level keeps its orders in a deque in arrival order (time priority) and
  a running total, so depth is known without summing.
- A side keeps ``price key -> level`` in a dict for O(1) joins, and the keys
  in a SortedList, which keeps insertion and removal O(log n) and, unlike a
  heap, can be walked in priority order (a fill-or-kill check needs that).
  Bid keys are negated prices, so on both sides the best key is the
  smallest and "within the limit" is ``key <= limit key``: one code path
  serves both sides.
- Canceling an order only zeroes it (O(1)); it leaves its deque when it
  reaches the head or when the level compacts. A level whose total reaches
  zero leaves the side at once, so the best level always has a live order.
"""

from __future__ import annotations

from collections import deque
from typing import Hashable, Iterator

from sortedcontainers import SortedList


class Order:
    """A resting order. Its side and price are its level's, stored once there."""

    __slots__ = ("order_id", "account", "qty", "remaining", "filled_quote", "ts", "rank", "level")

    def __init__(
        self,
        order_id: int,
        account: Hashable,
        qty: int,
        remaining: int,
        filled_quote: int,
        ts: int,
        rank: int,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.qty = qty
        self.remaining = remaining  # 0 once the order is done: a dead entry
        self.filled_quote = filled_quote
        self.ts = ts
        self.rank = rank  # arrival order, kept across export and restore
        self.level: Level  # set by BookSide.add when the order rests

    @property
    def side(self) -> str:
        return self.level.book_side.side

    @property
    def price(self) -> int:
        return self.level.price


class Level:
    """The orders resting at one price, in time priority."""

    __slots__ = ("book_side", "price", "key", "orders", "total", "canceled")

    def __init__(self, book_side: BookSide, price: int, key: int) -> None:
        self.book_side = book_side
        self.price = price
        self.key = key
        self.orders: deque[Order] = deque()
        self.total = 0  # sum of the live orders' remaining quantity
        # Cancellations since the last compaction. Dead orders popped at the
        # head are not subtracted, so this can overestimate; that only makes
        # a compaction come early.
        self.canceled = 0

    def drop_dead_head(self) -> None:
        """Pop done orders off the front so the head is live (the level must be)."""
        orders = self.orders
        while not orders[0].remaining:
            orders.popleft()

    def live_orders(self) -> Iterator[Order]:
        return (order for order in self.orders if order.remaining)


class BookSide:
    """The bids or the asks of one market."""

    __slots__ = ("side", "sign", "levels", "keys", "best")

    def __init__(self, side: str, sign: int) -> None:
        self.side = side
        self.sign = sign  # price -> key: +1 for asks, -1 for bids
        self.levels: dict[int, Level] = {}
        self.keys = SortedList()
        self.best: int | None = None  # smallest key, cached: read on every place

    def add(self, order: Order, price: int) -> Level:
        """Rest ``order`` at the back of its price level."""
        key = self.sign * price
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = Level(self, price, key)
            self.keys.add(key)
            if self.best is None or key < self.best:
                self.best = key
        level.orders.append(order)
        level.total += order.remaining
        order.level = level
        return level

    def withdraw(self, order: Order) -> Level:
        """Take a live order out of the book (cancel)."""
        level = order.level
        level.total -= order.remaining
        order.remaining = 0
        if not level.total:
            self.remove(level)
        else:
            level.canceled += 1
            # Dead entries may outnumber live ones behind a long-lived head;
            # rebuilding when they are over half the deque bounds the memory
            # they hold, at amortised O(1) per cancel.
            if 2 * level.canceled > len(level.orders):
                level.orders = deque(level.live_orders())
                level.canceled = 0
        return level

    def remove(self, level: Level) -> None:
        """Drop an emptied level."""
        del self.levels[level.key]
        self.keys.remove(level.key)
        if level.key == self.best:
            self.best = self.keys[0] if self.keys else None

    def levels_within(self, limit_key: int | None) -> Iterator[Level]:
        """Levels from the best to ``limit_key`` inclusive (None: all of them)."""
        levels = self.levels
        # Plain iteration from the best, not SortedList.irange: most walks
        # stop within a level or two, and irange costs more to set up.
        for key in self.keys:
            if limit_key is not None and key > limit_key:
                return
            yield levels[key]

    def depth(self) -> list[tuple[int, int]]:
        """``(price, total qty)`` per level, best first."""
        return [(level.price, level.total) for level in self.levels_within(None)]
