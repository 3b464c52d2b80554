"""The batch protocol itself: order checks, dead letters, and the order effects are made durable in."""

from __future__ import annotations

import pytest

from schemas.codec import codec
from schemas.topics import DEAD_LETTERS, SETTLEMENTS
from streams.batch import AdmitAll, Taken, run_batch, run_sync
from streams.outputs import OUTPUTS_FIRST, ROWS_FIRST, Decided, Outgoing


def settlement(market: str) -> bytes:
    return codec.encode(SETTLEMENTS.record, {"market": market, "accounts": []})


class Echo:
    """A stage that writes a row and sends a message per input, and refuses market "BAD"."""

    refusals = (ValueError,)

    def __init__(self, order: str) -> None:
        self.order = order
        self.decided: list[str] = []

    def begin(self, now_ms: int) -> None:
        self.rows: dict[int, dict] = {}
        self.messages: list[Outgoing] = []
        self.now_ms = now_ms

    def decide(self, message, record: dict) -> None:
        if record["market"] == "BAD":
            raise ValueError("refused")
        self.decided.append(record["market"])
        self.rows.setdefault(message.partition, {})[record["market"]] = {"at": self.now_ms}
        self.messages.append(Outgoing(SETTLEMENTS, record["market"], record, message.partition))

    def end(self) -> Decided:
        return Decided(self.rows, self.messages)


class Journal:
    def __init__(self) -> None:
        self.steps: list[tuple[str, object]] = []

    async def write_rows(self, rows) -> None:
        self.steps.append(("rows", rows))

    async def send(self, messages) -> None:
        self.steps.append(("send", [(m.topic.name, m.key) for m in messages]))


class Odd(AdmitAll):
    def admit(self, message) -> bool:
        return message.offset % 2 == 1


TOPICS = {SETTLEMENTS.name: SETTLEMENTS}


def messages(*markets: str) -> list[Taken]:
    return [Taken(SETTLEMENTS.name, 3, offset, market.encode(), settlement(market) if market != "?" else b"junk")
            for offset, market in enumerate(markets)]


@pytest.mark.parametrize("order, first", [(ROWS_FIRST, "rows"), (OUTPUTS_FIRST, "send")])
def test_effects_are_made_durable_in_the_stages_order_once_per_batch(order, first):
    journal = Journal()
    decided = run_sync(run_batch(messages("A", "B"), Echo(order), TOPICS, AdmitAll(), journal, clock=lambda: 7))
    assert [step for step, _ in journal.steps] == ([first, "send" if first == "rows" else "rows"])
    assert dict(journal.steps)["rows"] == {3: {"A": {"at": 7}, "B": {"at": 7}}}
    assert dict(journal.steps)["send"] == [(SETTLEMENTS.name, "A"), (SETTLEMENTS.name, "B")]
    assert decided.rows == {3: {"A": {"at": 7}, "B": {"at": 7}}}


def test_undecodable_and_refused_messages_become_dead_letters_and_change_nothing():
    journal, stage = Journal(), Echo(ROWS_FIRST)
    run_sync(run_batch(messages("A", "?", "BAD", "C"), stage, TOPICS, AdmitAll(), journal, clock=lambda: 0))
    assert stage.decided == ["A", "C"]
    assert dict(journal.steps)["rows"] == {3: {"A": {"at": 0}, "C": {"at": 0}}}
    assert dict(journal.steps)["send"] == [(SETTLEMENTS.name, "A"), (SETTLEMENTS.name, "C"),
                                          (DEAD_LETTERS.name, SETTLEMENTS.name), (DEAD_LETTERS.name, SETTLEMENTS.name)]


def test_only_admitted_messages_are_decided():
    stage = Echo(ROWS_FIRST)
    run_sync(run_batch(messages("A", "B", "C", "D"), stage, TOPICS, Odd(), Journal(), clock=lambda: 0))
    assert stage.decided == ["B", "D"]


def test_a_failing_step_stops_the_batch_before_the_next():
    class Unwritable(Journal):
        async def write_rows(self, rows) -> None:
            raise ConnectionError("table down")

    journal = Unwritable()
    with pytest.raises(ConnectionError):
        run_sync(run_batch(messages("A"), Echo(ROWS_FIRST), TOPICS, AdmitAll(), journal, clock=lambda: 0))
    assert journal.steps == []  # nothing sent: a replay decides again from the rows as they were
