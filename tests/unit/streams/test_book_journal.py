"""The book journal's rows: what a batch writes, and what a restore makes of them."""

from streams.book_journal import BookJournal, market_key, order_key
from streams.engine import OrderRow


def _row(order_id: int, remaining: int) -> OrderRow:
    return OrderRow(order_id, "a", "buy", 100, 10, remaining, 10 - remaining, 0, 1, order_id)


def _apply(table: dict, writes: dict) -> None:
    for key, value in writes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def test_an_order_placed_and_ended_in_one_batch_writes_no_row():
    table: dict = {}
    journal = BookJournal(table)
    journal.restore(["M"])
    first = journal.commit("M", 5, {}, {1: _row(1, 10), 2: None})  # 1 rests; 2 came and went
    assert set(first) == {order_key(1), market_key("M")}
    _apply(table, first)
    second = journal.commit("M", 9, {}, {1: None, 3: None})  # 1 ends; 3 came and went
    assert set(second) == {order_key(1), market_key("M")}
    assert second[order_key(1)]["before"]["remaining"] == 10  # what a rolled-back batch restores
    _apply(table, second)
    third = journal.commit("M", 12, {}, {})
    assert third[order_key(1)] is None  # the ended order's row is deleted once its batch is committed


def test_a_batch_cut_short_before_its_market_row_is_rolled_back():
    table: dict = {}
    journal = BookJournal(table)
    journal.restore(["M"])
    _apply(table, journal.commit("M", 5, {}, {1: _row(1, 10)}))
    cut = journal.commit("M", 9, {}, {1: None, 2: _row(2, 4), 3: None})
    del cut[market_key("M")]  # the crash came before the market row
    _apply(table, cut)
    restored = BookJournal(table).restore(["M"])["M"]
    assert restored.seq == 5 and [r.order_id for r in restored.rows] == [1] and restored.rows[0].remaining == 10
