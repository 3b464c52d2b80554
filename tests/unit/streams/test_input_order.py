"""Messages of a partition are admitted strictly in offset order; a gap is sought back to."""

from __future__ import annotations

from collections import namedtuple

from streams.input_order import InputOrder

TP = namedtuple("TP", "topic partition")
class Message:
    def __init__(self, tp, offset: int) -> None:
        self.tp, self.offset, self.acked = tp, offset, False
P = TP("exchange.commands", 0)


class FakeConsumer:
    def __init__(self, committed: int | None) -> None:
        self._committed_offset = {P: committed}
        self._acked = {P: []}
        self._acked_index = {P: set()}
        self.sought: list[tuple] = []
        self.log_start = 0

    def ack(self, *offsets: int) -> None:
        for offset in offsets:
            self._acked[P].append(offset)
            self._acked_index[P].add(offset)

    async def seek(self, tp, offset: int) -> None:
        self.sought.append((tp, offset))

    async def earliest_offsets(self, *tps) -> dict:
        return {tp: self.log_start for tp in tps}


def admitted(order: InputOrder, *offsets: int) -> list[int]:
    return [offset for offset in offsets if order.admit(Message(P, offset))]


async def test_in_order_messages_are_admitted_once():
    consumer = FakeConsumer(committed=10)
    order = InputOrder(lambda: consumer)
    assert admitted(order, 10, 11, 12) == [10, 11, 12]
    assert admitted(order, 11, 12, 13) == [13]  # seen again after a re-read: skipped
    await order.repair()
    assert consumer.sought == []


async def test_a_gap_stops_the_partition_until_it_is_read_again():
    consumer = FakeConsumer(committed=10)
    order = InputOrder(lambda: consumer)
    past_the_gap = Message(P, 15)
    assert order.admit(Message(P, 10)) and order.admit(Message(P, 11))
    assert not order.admit(past_the_gap)  # 12..14 were dropped upstream
    assert past_the_gap.acked  # so Faust never counts it towards a commit
    assert admitted(order, 16) == []
    await order.repair()
    assert consumer.sought == [(P, 12)]
    assert admitted(order, 12, 13, 14, 15, 16) == [12, 13, 14, 15, 16]


async def test_a_partition_never_committed_starts_where_its_log_starts():
    consumer = FakeConsumer(committed=None)
    consumer.log_start = 5  # older messages went with retention
    order = InputOrder(lambda: consumer)
    first = [Message(P, 5), Message(P, 6)]
    await order.prepare(first)
    assert [m.offset for m in first if order.admit(m)] == [5, 6]  # no seek needed
    consumer2 = FakeConsumer(committed=None)
    order2 = InputOrder(lambda: consumer2)
    dropped = [Message(P, 2), Message(P, 3)]  # 0 and 1 were dropped upstream
    await order2.prepare(dropped)
    assert [m.offset for m in dropped if order2.admit(m)] == []
    await order2.repair()
    assert consumer2.sought == [(P, 0)]


async def test_a_kept_partition_goes_on_and_a_gained_one_starts_at_its_commit():
    consumer = FakeConsumer(committed=10)
    order = InputOrder(lambda: consumer)
    assert admitted(order, 10, 11) == [10, 11]
    order.keep_only({P})  # a rebalance; this worker keeps the partition
    assert admitted(order, 10, 11, 12) == [12]  # re-delivered from the commit: no double processing
    order.keep_only(set())  # lost it
    consumer._committed_offset[P] = 20  # its next owner went on
    order.keep_only({P})  # and got it back
    assert admitted(order, 20) == [20]


async def test_a_gap_is_sought_again_until_it_is_read_and_never_skipped(monkeypatch):
    import streams.input_order as module
    monkeypatch.setattr(module, "RESEEK_AFTER", 0.0)
    consumer = FakeConsumer(committed=10)
    order = InputOrder(lambda: consumer)
    assert admitted(order, 10) == [10]
    for _ in range(5):
        assert admitted(order, 14) == []
        await order.repair()
    assert consumer.sought == [(P, 11)] * 5
    assert admitted(order, 14, 11, 12, 13, 14) == [11, 12, 13, 14]


async def test_a_commit_learnt_late_moves_the_partition_on():
    consumer = FakeConsumer(committed=None)
    order = InputOrder(lambda: consumer)
    await order.prepare([Message(P, 0)])
    assert admitted(order, 0, 1) == [0, 1]
    consumer._committed_offset[P] = 402  # Faust read the group's offset after its tables recovered
    assert admitted(order, 2, 402, 403) == [402, 403]  # below it: done by the previous owner
    await order.repair()
    assert consumer.sought == []
