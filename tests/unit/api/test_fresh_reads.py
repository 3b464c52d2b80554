"""Fresh reads wait for the recorder's positions to pass the topics' ends taken at the start."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from api.fresh_reads import BALANCE, ORDERS, FreshReads
from schemas.topics import BALANCES, ORDER_UPDATES, SETTLEMENTS, account_partition

PARTITIONS = 4


class Recorder:
    """The recorded_positions table, as the store reads it, and how often it was read."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}
        self.reads = 0

    async def rows(self, name: str, *params) -> list:
        assert name == "recorded_positions"
        self.reads += 1
        return [SimpleNamespace(topic=topic, partition=partition, next_offset=offset)
                for (topic, partition), offset in self.positions.items()]


class Ends:
    def __init__(self, ends: dict[tuple[str, int], int]) -> None:
        self.ends = ends

    async def end_offsets(self, tps) -> dict:
        return {tp: self.ends.get((tp.topic, tp.partition), 0) for tp in tps}


def fresh_reads(recorder: Recorder, ends: dict, wait_ms: int = 500) -> FreshReads:
    settings = SimpleNamespace(partitions=PARTITIONS, read_wait_ms=wait_ms, kafka_bootstrap="unused")
    reads = FreshReads(settings, recorder)
    reads._consumer = Ends(ends)
    return reads


def test_a_read_returns_once_the_recorder_passes_what_was_written_before_it():
    async def scenario():
        recorder = Recorder()
        reads = fresh_reads(recorder, {(ORDER_UPDATES.name, 2): 10, (ORDER_UPDATES.name, 3): 4})
        recorder.positions = {(ORDER_UPDATES.name, 2): 9, (ORDER_UPDATES.name, 3): 4}
        waiting = asyncio.create_task(reads.wait("ada", ORDERS))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # partition 2 is one message short
        recorder.positions[(ORDER_UPDATES.name, 2)] = 10
        await asyncio.wait_for(waiting, 1)
        assert reads.late == 0

    asyncio.run(scenario())


def test_balances_wait_for_the_settlements_of_the_accounts_partition_only():
    async def scenario():
        recorder = Recorder()
        mine = account_partition("ada", PARTITIONS)
        other = (mine + 1) % PARTITIONS
        reads = fresh_reads(recorder, {(BALANCES.name, mine): 3, (SETTLEMENTS.name, mine): 8,
                                       (SETTLEMENTS.name, other): 100})
        recorder.positions = {(BALANCES.name, mine): 3, (SETTLEMENTS.name, mine): 7}
        waiting = asyncio.create_task(reads.wait("ada", BALANCE))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        recorder.positions[(SETTLEMENTS.name, mine)] = 8
        await asyncio.wait_for(waiting, 1)

    asyncio.run(scenario())


def test_a_read_side_that_stays_behind_costs_the_bound_once_and_is_counted():
    async def scenario():
        recorder = Recorder()
        reads = fresh_reads(recorder, {(ORDER_UPDATES.name, 0): 1}, wait_ms=100)
        started = asyncio.get_running_loop().time()
        await reads.wait("ada", ORDERS)
        assert 0.09 <= asyncio.get_running_loop().time() - started < 0.5
        assert reads.late == 1 and "exchange_api_fresh_reads_late_total 1" in reads.render_metrics()

    asyncio.run(scenario())


def test_concurrent_reads_share_the_polls_and_nothing_is_read_when_nothing_was_written():
    async def scenario():
        recorder = Recorder()
        reads = fresh_reads(recorder, {(ORDER_UPDATES.name, 1): 5})
        waiting = [asyncio.create_task(reads.wait(f"account-{n}", ORDERS)) for n in range(50)]
        await asyncio.sleep(0.05)
        polls = recorder.reads
        recorder.positions[(ORDER_UPDATES.name, 1)] = 5
        await asyncio.wait_for(asyncio.gather(*waiting), 1)
        assert polls < 50  # one poll serves every waiting read
        before = recorder.reads
        await fresh_reads(recorder, {}).wait("ada", ORDERS)
        assert recorder.reads == before

    asyncio.run(scenario())


def test_no_wait_at_all_when_turned_off():
    reads = FreshReads(SimpleNamespace(partitions=PARTITIONS, read_wait_ms=0, kafka_bootstrap="unused"), Recorder())
    asyncio.run(reads.start())
    asyncio.run(reads.wait("ada", ORDERS))  # no consumer was started, nothing to ask
    assert reads._consumer is None
