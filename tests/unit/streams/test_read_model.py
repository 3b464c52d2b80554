"""The recorder's rows and the depth book, fed with what the in-memory pipeline publishes.

Crashes in the pipeline put repeated messages on its topics, as on Kafka; the read side must
come out the same as if each had come once, in whatever order the rows reach Cassandra.
"""

from __future__ import annotations

import random
from collections import defaultdict
from types import SimpleNamespace

import pytest

from schemas.topics import BALANCES, COMMAND_RESULTS, DEPTH, FEE_ACCOUNT, ORDER_UPDATES, SETTLEMENTS, TRADES
from streams import read_model
from streams.depth_book import DepthBook, DepthGap

from .fake_cassandra import FakeCassandra
from .test_pipeline import MARKETS, books, random_workload, run


def read_side_writes(pipeline) -> list[read_model.Write]:
    writes = []
    for trades in pipeline.records(TRADES.name):
        for trade in trades["trades"]:
            writes.extend(read_model.trade_rows(trade, MARKETS[trade["market"]]))
    for batch in pipeline.records(ORDER_UPDATES.name):
        for update in batch["updates"]:
            writes.extend(read_model.order_rows(update))
    for partition in pipeline.logs[BALANCES.name]:
        for offset, update in enumerate(partition):
            writes.extend(read_model.balance_rows(update, offset))
    for result in pipeline.records(COMMAND_RESULTS.name):
        writes.extend(read_model.command_result_rows(result))
    return writes


@pytest.fixture(scope="module", params=[0.0, 0.05], ids=["calm", "crashing"])
def pipeline(request):
    return run(random_workload(7, 1500), crash_rate=request.param, seed=3)


def test_the_ledger_with_the_legs_of_each_fill_adds_up_to_every_balance(pipeline):
    db = FakeCassandra()
    db.apply(read_side_writes(pipeline))
    ledger: dict[tuple[str, str], int] = defaultdict(int)
    for (account, _ts, _entry), row in db.rows("ledger_by_account").items():
        assert row["kind"] not in read_model.DERIVED_KINDS
        ledger[(account, row["asset"])] += row["amount"]
    for (account, ts, market, trade_id, role), row in db.rows("trades_by_account").items():
        fill = SimpleNamespace(account=account, ts=ts, market=market, trade_id=trade_id, role=role, **row)
        for _entry, asset, amount, _kind, _reference in read_model.fill_legs(fill, MARKETS[market]):
            ledger[(account, asset)] += amount
    for account, state in pipeline.accounts.items():
        for asset, balance in state["balances"].items():
            assert ledger[(account, asset)] == balance["available"] + balance["held"], (account, asset)
    assert any(account == FEE_ACCOUNT for account, _ in ledger)


def test_balance_rows_are_the_accounts_final_balances(pipeline):
    db = FakeCassandra()
    db.apply(read_side_writes(pipeline))
    # A zero balance may be recorded or absent: the same to a reader.
    recorded = {key: (row["available"], row["held"]) for key, row in db.rows("balances_by_account").items()
                if (row["available"], row["held"]) != (0, 0)}
    expected = {(account, asset): (b["available"], b["held"]) for account, state in pipeline.accounts.items()
                for asset, b in state["balances"].items()}
    assert recorded == expected


def test_order_rows_end_in_the_orders_last_state_and_open_orders_are_the_books(pipeline):
    db = FakeCassandra()
    db.apply(read_side_writes(pipeline))
    last: dict[int, dict] = {}
    for batch in pipeline.records(ORDER_UPDATES.name):
        for update in batch["updates"]:
            if update["order_id"] not in last or update["seq"] >= last[update["order_id"]]["seq"]:
                last[update["order_id"]] = update
    orders = {key: row for key, row in db.rows("orders_by_account").items()}
    assert set(orders) == {(update["account"], order_id) for order_id, update in last.items()}
    for order_id, update in last.items():
        row = orders[(update["account"], order_id)]
        assert (row["status"], row["filled_quantity"], row["filled_quote"], row["market"]) == \
            (update["status"], update["filled_quantity"], update["filled_quote"], update["market"])
        assert row["type"] in ("limit", "market") and row["created_ts"] is not None
    open_orders = {(account, market, order_id) for account, market, order_id in db.rows("open_orders_by_account")}
    resting = {(row.account, market, row.order_id) for market, rows in books(pipeline).items() for row in rows}
    assert open_orders == resting


def test_withdrawal_rows_follow_each_withdrawal_to_its_end(pipeline):
    db = FakeCassandra()
    db.apply(read_side_writes(pipeline))
    held = {(withdrawal_id, account, pending["asset"], pending["amount"])
            for account, state in pipeline.accounts.items() for withdrawal_id, pending in state["withdrawals"].items()}
    assert held  # the workload leaves some unsettled
    assert {(w, row["account"], asset, row["amount"]) for (asset, w), row in db.rows("pending_withdrawals").items()} \
        == held
    by_id = {key[0]: row for key, row in db.rows("withdrawals_by_id").items()}
    assert {(w, r["account"], r["asset"], r["amount"]) for w, r in by_id.items() if r["status"] == "processing"} == held
    assert {r["status"] for r in by_id.values()} == {"processing", "completed", "failed"}
    by_account = {(account, w): row for (account, w), row in db.rows("withdrawals_by_account").items()}
    assert by_account == {(row["account"], w): {k: v for k, v in row.items() if k != "account"}
                          for w, row in by_id.items()}
    ledger = {key[2]: row for key, row in db.rows("ledger_by_account").items() if row["kind"] == "withdrawal"}
    assert {w: -row["amount"] for w, row in ledger.items()} == \
        {w: row["amount"] for w, row in by_id.items() if row["status"] == "completed"}


def test_rows_applied_twice_in_any_order_change_nothing(pipeline):
    writes = read_side_writes(pipeline)
    once = FakeCassandra()
    once.apply(writes)
    shuffled = FakeCassandra()
    twice = writes + writes
    random.Random(1).shuffle(twice)
    shuffled.apply(twice)
    for table in ("trades_by_market_day", "trades_by_account", "orders_by_account",
                  "open_orders_by_account", "balances_by_account", "ledger_by_account", "withdrawals_by_account",
                  "withdrawals_by_id", "pending_withdrawals"):
        assert shuffled.rows(table) == once.rows(table), table


def test_only_the_newest_writes_of_a_batch_leave_the_same_tables(pipeline):
    """The recorder writes newest_only of each batch it takes; batches here are cut at random
    and shuffled inside, and crashes repeat messages across them."""
    writes = read_side_writes(pipeline)
    every = FakeCassandra()
    every.apply(writes)
    rng = random.Random(2)
    reduced, dropped, start = FakeCassandra(), 0, 0
    while start < len(writes):
        take = writes[start:start + rng.randint(1, 400)]
        start += len(take)
        rng.shuffle(take)
        kept = read_model.newest_only(take)
        dropped += len(take) - len(kept)
        reduced.apply(kept)
    assert dropped > len(writes) // 20  # balances and order states do repeat within a batch
    for table in ("orders_by_account", "open_orders_by_account", "balances_by_account",
                  "trades_by_market_day", "trades_by_account", "ledger_by_account", "withdrawals_by_account"):
        assert reduced.rows(table) == every.rows(table), table


def test_an_older_write_stays_when_the_newer_leaves_a_cell_unset():
    def state(seq: int, reason):
        return read_model.order_rows({"order_id": 9, "account": "a", "market": "M", "seq": seq, "side": "buy",
                                      "status": "PARTIALLY_FILLED", "filled_quantity": seq, "filled_quote": seq,
                                      "remaining_quantity": 10 - seq, "reason": reason, "ts": seq})
    older, newer = state(2, "self_trade_prevented"), state(3, None)
    kept = read_model.newest_only(older + newer)
    assert older[0] in kept and newer[0] in kept  # the reason cell is only in the older
    assert older[1] not in kept and newer[1] in kept  # the open-orders row: the newer replaces it
    assert read_model.newest_only(newer + state(4, "x")) == [*state(4, "x")]


def test_the_depth_book_kept_from_updates_is_the_engines_book(pipeline):
    kept = {market: DepthBook(market) for market in MARKETS}
    for update in pipeline.records(DEPTH.name):  # per partition, in order; one market each here
        kept[update["market"]].apply(update)
    for market, rows in books(pipeline).items():
        levels = {"buy": defaultdict(int), "sell": defaultdict(int)}
        for row in rows:
            levels[row.side][row.price] += row.remaining
        snapshot = kept[market].snapshot()
        assert [(level["price"], level["quantity"]) for level in snapshot["bids"]] == \
            sorted(levels["buy"].items(), reverse=True)
        assert [(level["price"], level["quantity"]) for level in snapshot["asks"]] == sorted(levels["sell"].items())


def test_a_depth_update_past_a_gap_is_refused():
    book = DepthBook("M", 10)
    assert not book.apply({"first_update_id": 5, "last_update_id": 10, "bids": [], "asks": []})
    assert book.apply({"first_update_id": 9, "last_update_id": 12, "bids": [{"price": 5, "quantity": 1}],
                       "asks": []})
    with pytest.raises(DepthGap):
        book.apply({"first_update_id": 14, "last_update_id": 15, "bids": [], "asks": []})
    assert book.snapshot()["bids"] == [{"price": 5, "quantity": 1}] and book.last_update_id == 12


def test_a_full_update_replaces_a_book_that_lost_updates_and_a_stale_one_changes_nothing():
    book = DepthBook("M", 10, bids=[{"price": 5, "quantity": 1}], asks=[{"price": 7, "quantity": 3}])
    with pytest.raises(DepthGap):
        book.apply({"first_update_id": 14, "last_update_id": 15, "bids": [], "asks": [], "full": False})
    stale = {"first_update_id": 9, "last_update_id": 9, "bids": [], "asks": [], "full": True}
    assert not book.apply(stale) and book.snapshot()["bids"] == [{"price": 5, "quantity": 1}]
    whole = {"first_update_id": 15, "last_update_id": 15, "bids": [{"price": 4, "quantity": 2}], "asks": [],
             "full": True}
    assert book.apply(whole)
    assert book.snapshot() == {"market": "M", "last_update_id": 15, "bids": [{"price": 4, "quantity": 2}], "asks": []}
    assert book.apply({"first_update_id": 16, "last_update_id": 16, "bids": [], "asks": [{"price": 6, "quantity": 1}],
                       "full": False})
    assert book.asks == {6: 1}


def test_a_book_that_lost_updates_equals_the_engines_once_a_full_update_passes(pipeline):
    """A reader that starts late, with nothing, skips what it cannot apply until a full book."""
    by_market = defaultdict(list)
    for update in pipeline.records(DEPTH.name):
        by_market[update["market"]].append(update)
    for market, rows in books(pipeline).items():
        updates = by_market[market]
        late, skipped = DepthBook(market), 0
        # The first half is lost, and the reader starts on a change, not on a full book.
        start = next(i for i in range(len(updates) // 2, len(updates)) if not updates[i]["full"])
        for update in updates[start:]:
            try:
                late.apply(update)
            except DepthGap:
                skipped += 1
        assert skipped and late.last_update_id == updates[-1]["last_update_id"]
        levels = {"buy": defaultdict(int), "sell": defaultdict(int)}
        for row in rows:
            levels[row.side][row.price] += row.remaining
        assert late.bids == levels["buy"] and late.asks == levels["sell"]


def test_an_orders_first_update_and_a_later_one_in_a_take_are_one_write_with_both():
    def update(seq: int, status: str, reason=None, **terms):
        return {"order_id": 9, "account": "a", "market": "M", "seq": seq, "side": "buy", "status": status,
                "filled_quantity": seq, "filled_quote": seq * 100, "remaining_quantity": 10 - seq, "reason": reason,
                "ts": 1000 + seq, **terms}
    terms = {"type": "limit", "time_in_force": "GTC", "price": 100, "quantity": 10, "quote_quantity": None,
             "post_only": False, "client_order_id": None, "created_ts": 1000}
    first = read_model.order_rows(update(1, "NEW", reason="kept", **terms))
    later = read_model.order_rows(update(4, "FILLED"))
    kept = read_model.newest_only(first + later)
    assert len(kept) == 2  # the order's row and its delete from the open orders
    one, separate = FakeCassandra(), FakeCassandra()
    one.apply(kept)
    separate.apply(first + later)
    assert one.rows("orders_by_account") == separate.rows("orders_by_account")
    assert one.rows("orders_by_account")[("a", 9)]["reason"] == "kept"  # unset by the later, kept as Cassandra would
    assert one.rows("open_orders_by_account") == separate.rows("open_orders_by_account") == {}


def test_each_balance_update_a_settlement_causes_comes_after_those_of_every_earlier_settlement(pipeline):
    """What the recorder's settlements position rests on: on each account partition, the balance
    update naming settlement s comes after those of every settlement up to s, and after a balance
    update of every account s settles (only the last update of a settlement names it, so a take of
    the recorder that ends between them claims nothing). Crashes included: a replayed settlement
    names its own offset again."""
    for partition, settlements in enumerate(pipeline.logs[SETTLEMENTS.name]):
        first_named: dict[int, int] = {}  # settlement offset -> first balance offset naming it
        updates_of: dict[str, list[int]] = {}  # account -> offsets of its balance updates
        for offset, update in enumerate(pipeline.logs[BALANCES.name][partition]):
            updates_of.setdefault(update["account"], []).append(offset)
            named = update["settlement_offset"]
            if named is not None:
                first_named.setdefault(named, offset)
                assert all(first_named.get(earlier, len(first_named) + offset) <= offset
                           for earlier in range(named)), (partition, offset)
        for offset, batch in enumerate(settlements):
            if not batch["accounts"]:
                continue
            assert offset in first_named, (partition, offset)
            since = max((first_named[t] for t in range(offset) if t in first_named), default=-1)
            for account in {a["account"] for a in batch["accounts"]}:
                assert any(since < o <= first_named[offset] for o in updates_of.get(account, [])), \
                    (partition, offset, account)


def test_the_recorder_positions_are_the_take_ends_of_what_accounts_read_and_the_settlements_named():
    from streams.recorder_stage import RecorderStage

    stage = RecorderStage(MARKETS)
    stage.begin(0)
    update = {"account": "ada", "balances": [], "ts": 1}
    for offset, named in ((7, 3), (8, None), (9, 5)):
        stage.decide(SimpleNamespace(topic=BALANCES.name, partition=1, offset=offset),
                     {**update, "settlement_offset": named})
    stage.end()
    processed = {(BALANCES.name, 1): 10, (ORDER_UPDATES.name, 0): 42, (DEPTH.name, 0): 5, ("exchange.candles", 0): 9}
    assert stage.positions(processed) == {(BALANCES.name, 1): 10, (ORDER_UPDATES.name, 0): 42,
                                          (SETTLEMENTS.name, 1): 6}
    writes = read_model.position_rows(stage.positions(processed))
    assert [(w.values, w.timestamp) for w in writes][0] == (("recorder", BALANCES.name, 1, 10), 10)
