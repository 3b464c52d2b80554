"""`exchange partitions grow`: which accounts-table rows move, and how, from wherever rows are."""

from __future__ import annotations

from exchange.partitions import NOTHING_YET, grown_topics, moved_state, plan_moves
from schemas.codec import codec
from schemas.topics import CATALOGUE, account_partition
from streams.account import client_order_key, hold_key, new_state, record_of


def _account(partitions_before: int, partitions_after: int, moves: bool, prefix: str = "acct") -> str:
    return next(name for name in (f"{prefix}{i}" for i in range(1000))
                if (account_partition(name, partitions_before) != account_partition(name, partitions_after)) == moves)


def _hold(order_id: int, offset: int, client_id: str | None = None) -> dict:
    return {"order_id": order_id, "market": "S_U", "asset": "U", "amount": 500, "client_order_id": client_id,
            "command_offset": offset, "settled_seq": 0, "released": False}


def _rows(account: str) -> dict[str, dict]:
    state = {**new_state(account), "balances": {"U": {"available": 1000, "held": 500}},
             "last_command_offset": 10, "undelivered_from": 8, "refused": {"c1": "insufficient_funds"},
             "deposited": {"U": 1500}}
    return {hold_key(account, 1): _hold(1, 5, "mine"),
            client_order_key(account, "mine"): {"order_id": 1, "command_offset": 5},
            hold_key(account, 2): _hold(2, 12),  # made by a decision the account row does not count
            account: state}


def _encoded(rows: dict[str, dict]) -> dict[str, bytes]:
    return {key: codec.encode(record_of(key), row) for key, row in rows.items()}


def test_a_moved_account_starts_its_new_partition_with_nothing_read_and_its_holds_still_count():
    mover, stayer = _account(2, 4, True), _account(2, 4, False, "other")
    old, new = account_partition(mover, 2), account_partition(mover, 4)
    live = {p: {} for p in range(4)}
    live[old].update(_encoded(_rows(mover)))
    live[account_partition(stayer, 2)].update(_encoded(_rows(stayer)))

    moves = plan_moves(live, 4)

    assert moves.accounts == {mover: (old, new)}
    copied = moves.copies[new]
    assert [key for key, _ in copied][-1] == mover  # the account row last
    rows = dict(copied)
    assert set(rows) == {hold_key(mover, 1), client_order_key(mover, "mine"), mover}
    assert rows[hold_key(mover, 1)] == {**_hold(1, NOTHING_YET, "mine")}
    assert rows[client_order_key(mover, "mine")] == {"order_id": 1, "command_offset": NOTHING_YET}
    state = rows[mover]
    assert (state["last_command_offset"], state["undelivered_from"], state["refused"]) == (-1, -1, {})
    assert state["balances"] == {"U": {"available": 1000, "held": 500}} and state["deposited"] == {"U": 1500}
    assert moves.deletes == {old: [hold_key(mover, 1), client_order_key(mover, "mine"), hold_key(mover, 2), mover]}
    assert moves.dropped == 1


def test_a_run_cut_short_is_finished_and_a_finished_one_does_nothing():
    mover = _account(2, 3, True)
    old, new = account_partition(mover, 2), account_partition(mover, 3)
    live = {p: {} for p in range(3)}
    live[old].update(_encoded(_rows(mover)))
    first = plan_moves(live, 3)

    # Cut short after the hold's copy: the rest is copied, the hold is not copied again.
    [(hold_k, hold_row), *_rest] = first.copies[new]
    live[new][hold_k] = codec.encode(record_of(hold_k), hold_row)
    again = plan_moves(live, 3)
    assert [key for key, _ in again.copies[new]] == [key for key, _ in first.copies[new]][1:]
    assert again.deletes == first.deletes and again.already_copied == 1

    # Cut short after every copy: only the deletes are left.
    for key, row in first.copies[new]:
        live[new][key] = codec.encode(record_of(key), row)
    assert plan_moves(live, 3).copies == {} and plan_moves(live, 3).deletes == first.deletes

    # Cut short after the hold's delete but before the account row's: still only deletes, and the
    # hold rows already gone are not looked for.
    del live[old][hold_key(mover, 1)]
    assert plan_moves(live, 3).deletes[old][-1] == mover

    # Done.
    live[old] = {}
    done = plan_moves(live, 3)
    assert (done.copies, done.deletes, done.accounts) == ({}, {}, {})


def test_rows_without_their_account_row_are_dropped_not_moved():
    mover = _account(2, 4, True)
    old = account_partition(mover, 2)
    live = {p: {} for p in range(4)}
    live[old][hold_key(mover, 7)] = codec.encode(record_of(hold_key(mover, 7)), _hold(7, 0))
    moves = plan_moves(live, 4)
    assert moves.copies == {} and moves.deletes == {old: [hold_key(mover, 7)]} and moves.dropped == 1


def test_what_grows_is_every_topic_that_follows_the_partition_count():
    assert moved_state(new_state("a"))["last_command_offset"] == new_state("a")["last_command_offset"]
    followers = {t.name for t in CATALOGUE if t.partitions(2) == 2 and t.partitions(3) == 3}
    assert set(grown_topics()) == followers | {"exchange-accounts-changelog", "exchange-book-changelog",
                                               "exchange-read-minute-bars-changelog",
                                               "exchange-read-market-days-changelog",
                                               "exchange-read-asset-holdings-changelog"}


def test_the_local_copies_cleared_are_the_accounts_tables_of_this_state_dir(tmp_path):
    from exchange.partitions import local_account_tables

    for path in ("workers/exchange-a/v1/tables/accounts-0.db", "workers/exchange-a/v1/tables/accounts-3.db",
                 "workers/exchange-a/v1/tables/book-0.db", "workers/exchange-read-a/v1/tables/minute-bars-0.db"):
        (tmp_path / path).mkdir(parents=True)
    assert local_account_tables(tmp_path) == [tmp_path / "workers/exchange-a/v1/tables/accounts-0.db",
                                              tmp_path / "workers/exchange-a/v1/tables/accounts-3.db"]
    assert local_account_tables(tmp_path / "elsewhere") == []
