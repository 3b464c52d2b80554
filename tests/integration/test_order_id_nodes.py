"""Order id nodes leased in a real Cassandra (api/ids.py): two processes never hold one node, a
node held by a process killed -9 is free again only once its lease ran out, and a process whose
lease cannot be renewed stops issuing ids."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import pytest

from api.ids import NodeLease, OrderIds, OrderIdsUnavailable
from api.store import Store
from exchange.db import cluster as open_cluster

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def settings(infra):
    fresh = dataclasses.replace(infra, cassandra_keyspace=f"ids_{uuid.uuid4().hex[:10]}")
    yield fresh
    connection = open_cluster(fresh)
    connection.connect().execute(f"DROP KEYSPACE IF EXISTS {fresh.cassandra_keyspace}")
    connection.shutdown()


async def test_one_node_one_holder_until_its_lease_runs_out(settings):
    store = Store(settings)
    await store.start()
    try:
        first_ids, second_ids = OrderIds(), OrderIds()
        # One node only, so the second process must wait for the first's.
        first = NodeLease(store, first_ids, nodes=1, lease_s=4, renew_s=1, margin_s=1)
        second = NodeLease(store, second_ids, nodes=1, lease_s=4, renew_s=1, margin_s=1)
        await first.start()
        assert first_ids.node == 0 and first_ids.next()
        with pytest.raises(OrderIdsUnavailable):
            await second.start()  # held, and renewed meanwhile
        await asyncio.sleep(2.5)
        assert first_ids.next()  # renewed: still issuing
        first.abandon()  # as after a kill -9: no renewal, no release
        abandoned = time.monotonic()
        with pytest.raises(OrderIdsUnavailable):
            await second.start()
        await asyncio.sleep(max(0.0, 4 - (time.monotonic() - abandoned)))
        with pytest.raises(OrderIdsUnavailable):
            first_ids.next()  # its lease is no longer sure: it stopped issuing before the node came free
        while second_ids.node is None:
            try:
                await second.start()
            except OrderIdsUnavailable:
                await asyncio.sleep(0.5)
        assert second_ids.node == 0 and time.monotonic() - abandoned >= 3
        await second.stop()  # a clean stop lets the node go at once
        third_ids = OrderIds()
        third = NodeLease(store, third_ids, nodes=1, lease_s=4, renew_s=1, margin_s=1)
        await third.start()
        assert third_ids.node == 0
        await third.stop()
    finally:
        await store.stop()


async def test_many_processes_hold_distinct_nodes(settings):
    store = Store(settings)
    await store.start()
    try:
        leases = [NodeLease(store, OrderIds()) for _ in range(20)]
        await asyncio.gather(*(lease.start() for lease in leases))
        assert len({lease.ids.node for lease in leases}) == 20
        await asyncio.gather(*(lease.stop() for lease in leases))
    finally:
        await store.stop()
