"""Order ids: exact in every JSON client (below 2^53), unique across API processes and restarts,
growing with time, so "newest first" is "largest first".

An id is (seconds since 2025-01-01) << 22 | node << 12 | sequence:
- 31 bits of seconds, enough until 2093;
- 10 bits of node: 1,024 API processes at once, each holding its node by a lease (below);
- 12 bits of sequence: 4,096 ids a second per process. Past that a process takes the next
  second's ids, at most AHEAD_S seconds ahead of its clock; beyond, it refuses (503) until its
  clock catches up. One process places 1,000 to 2,000 orders a second, so this never binds.

The node is leased in Cassandra (order_id_nodes: a lightweight transaction with a TTL). A process
takes a free node at start and renews it every RENEW_S; it issues ids only while its lease is
surely alive by its own clock (renewed less than LEASE_S - MARGIN_S ago). Another process can
take the node only once the lease expired in Cassandra, LEASE_S after its last renewal, which is
later than any second the first could have used (its last renewal + LEASE_S - MARGIN_S +
AHEAD_S): the same node never issues the same second twice, even after a kill -9.

Orders placed before this layout keep their ids (ms << 22 | node << 12 | sequence, about
2.5·10^17): both forms are order ids everywhere, and `placed_ms` reads the time of either.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

log = logging.getLogger("exchange.api.ids")

EPOCH_MS = 1_735_689_600_000  # 2025-01-01
MAX_ID = 2**53 - 1
NODES = 1024
SEQUENCE = 4096
AHEAD_S = 5
LEASE_S, RENEW_S, MARGIN_S = 30, 10, 10
TAKE_ATTEMPTS = 64


class OrderIdsUnavailable(ConnectionError):
    """No live node lease (Cassandra away for longer than a lease), or the ids of the next
    AHEAD_S seconds used up: the order is refused with 503 and the client tries again."""


def placed_ms(order_id: int) -> int:
    """When an order was placed (ms since the epoch), read from its id in either layout."""
    if order_id > MAX_ID:  # the earlier layout: milliseconds in the top bits
        return EPOCH_MS + (order_id >> 22)
    return EPOCH_MS + (order_id >> 22) * 1000


class OrderIds:
    """The ids of one API process. `node` is None until a lease is held (NodeLease sets it)."""

    def __init__(self, node: int | None = None, clock=time.time) -> None:
        self.node = node
        self.valid_until = float("inf") if node is not None else 0.0  # monotonic time the lease is sure until
        self._clock = clock
        self._second = 0
        self._sequence = 0

    def hold(self, node: int, valid_until: float) -> None:
        if node != self.node:
            self._second, self._sequence = 0, 0  # a new node starts afresh at the clock's second
        self.node, self.valid_until = node, valid_until

    def next(self) -> int:
        if self.node is None or time.monotonic() >= self.valid_until:
            raise OrderIdsUnavailable("this API process holds no order id lease now; try again")
        now = int(self._clock() * 1000 - EPOCH_MS) // 1000
        if now > self._second:
            self._second, self._sequence = now, 0
        elif self._sequence + 1 < SEQUENCE:
            self._sequence += 1
        elif self._second + 1 <= now + AHEAD_S:  # this second is used up: take the next one's ids
            self._second, self._sequence = self._second + 1, 0
        else:
            raise OrderIdsUnavailable(f"more than {SEQUENCE * AHEAD_S:,} orders in {AHEAD_S} s; try again")
        return self._second << 22 | self.node << 12 | self._sequence


class NodeLease:
    """Takes and renews this process's node in Cassandra (api/store.py's take_id_node and
    renew_id_node) and keeps `ids` told how long it may issue."""

    def __init__(self, store, ids: OrderIds, nodes: int = NODES, lease_s: int = LEASE_S, renew_s: float = RENEW_S,
                 margin_s: float = MARGIN_S) -> None:
        self.store, self.ids = store, ids
        self.nodes, self.lease_s, self.renew_s, self.margin_s = nodes, lease_s, renew_s, margin_s
        self.holder = secrets.token_hex(8)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._take()
        self._task = asyncio.create_task(self._keep())

    def abandon(self) -> None:
        """Stop renewing and keep the node, as a process killed -9 leaves it (for tests)."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        self.abandon()
        if self.ids.node is not None:
            try:  # let the node go at once for the next process
                await self.store.rows("release_id_node", self.ids.node, self.holder)
            except Exception:  # noqa: BLE001 - Cassandra away: the lease expires by itself
                pass

    async def _take(self) -> None:
        for _ in range(TAKE_ATTEMPTS):
            node = secrets.randbelow(self.nodes)
            asked = time.monotonic()
            [row] = await self.store.rows("take_id_node", node, self.holder, self.lease_s)
            if row[0]:  # [applied]
                self.ids.hold(node, asked + self.lease_s - self.margin_s)
                log.info("order id node %d taken", node)
                return
        raise OrderIdsUnavailable(f"no free order id node in {TAKE_ATTEMPTS} tries")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                asked = time.monotonic()
                [row] = await self.store.rows("renew_id_node", self.lease_s, self.holder, self.ids.node, self.holder)
                if row[0]:
                    self.ids.hold(self.ids.node, asked + self.lease_s - self.margin_s)
                else:  # expired while Cassandra was away, and perhaps taken since: take a node anew
                    log.warning("order id node %s lost; taking another", self.ids.node)
                    await self._take()
            except Exception as exc:  # noqa: BLE001 - Cassandra away: ids stop when the lease runs out
                log.warning("renewing the order id lease failed: %s", exc)
