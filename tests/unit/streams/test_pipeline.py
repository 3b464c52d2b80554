"""Accounts and matching stages wired through in-memory topics: money, books and crash safety."""

from __future__ import annotations

import pytest

from exchange.commands import cancel, deposit, place, settle_withdrawal, withdraw
from exchange.reference import make_asset, make_market
from schemas.topics import DEPTH, FEE_ACCOUNT, ORDER_UPDATES, ORDERS, REPLIES, TRADES
from streams.account import MAX_PENDING_WITHDRAWALS
from streams.book_journal import BookJournal
from tests import checks, workload

from .pipeline import Pipeline

PARTITIONS = 2
ASSETS = {a["symbol"]: a for a in (make_asset("SOL", 9, 0), make_asset("USDC", 6, 0),
                                    make_asset("BTC", 8, 0), make_asset("USDT", 6, 0))}
MARKETS = {
    "SOL_USDC": make_market("SOL_USDC", ASSETS["SOL"], ASSETS["USDC"], tick="0.01", step="0.001",
                            maker_fee="0.001", taker_fee="0.002", partition=0, ts=0),
    "BTC_USDT": make_market("BTC_USDT", ASSETS["BTC"], ASSETS["USDT"], tick="0.1", step="0.00001",
                            maker_fee="0.0005", taker_fee="0.001", partition=1, ts=0),
}
def balances(pipeline: Pipeline, account: str) -> dict[str, tuple[int, int]]:
    state = pipeline.accounts.get(account, {"balances": {}})
    return {asset: (b["available"], b["held"]) for asset, b in state["balances"].items()
            if b != {"available": 0, "held": 0}}


def test_a_trade_with_fees_settles_exactly_as_computed_by_hand():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("alice", "USDC", 1_000_000_000), deposit("bob", "SOL", 10_000_000_000)])
    pipeline.run()
    # bob offers 2 SOL at 150; alice bids for 1 SOL at 151 and trades at bob's price.
    pipeline.submit([place("bob", 1, "SOL_USDC", "sell", 15000, 2000)])
    pipeline.run()
    pipeline.submit([place("alice", 2, "SOL_USDC", "buy", 15100, 1000)])
    pipeline.run()

    # 1 SOL at 150 USDC = 150_000_000 USDC atoms; maker fee 0.1% = 150_000, taker fee 0.2% = 300_000.
    assert balances(pipeline, "alice") == {"USDC": (1_000_000_000 - 150_000_000 - 300_000, 0),
                                            "SOL": (1_000_000_000, 0)}
    assert balances(pipeline, "bob") == {"SOL": (8_000_000_000, 1_000_000_000),
                                         "USDC": (150_000_000 - 150_000, 0)}
    assert balances(pipeline, FEE_ACCOUNT) == {"USDC": (450_000, 0)}
    [trade] = [t for batch in pipeline.records(TRADES.name) for t in batch["trades"]]
    assert (trade["price"], trade["quantity"], trade["quote"]) == (15000, 1000, 150_000_000)
    assert (trade["maker_fee"], trade["taker_fee"], trade["taker_side"]) == (150_000, 300_000, "buy")
    assert_conserved(pipeline)


def test_a_partly_filled_maker_is_updated_as_of_the_trade_not_its_placement():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("alice", "USDC", 1_000_000_000), deposit("bob", "SOL", 10_000_000_000)])
    pipeline.run()
    pipeline.submit([place("bob", 1, "SOL_USDC", "sell", 15000, 2000, ts=1_000)])
    pipeline.run()
    pipeline.submit([place("alice", 2, "SOL_USDC", "buy", 15000, 500, ts=9_000)])
    pipeline.run()

    updates = [u for batch in pipeline.records(ORDER_UPDATES.name) for u in batch["updates"]]
    [partly] = [u for u in updates if u["order_id"] == 1 and u["status"] == "PARTIALLY_FILLED"]
    assert (partly["ts"], partly["filled_quantity"], partly["remaining_quantity"]) == (9_000, 500, 1500)
    [placed] = [u for u in updates if u["order_id"] == 1 and u["status"] == "NEW"]
    assert placed["ts"] == 1_000 and placed["created_ts"] == 1_000


def test_an_update_carries_the_fills_since_the_orders_previous_update():
    """A taker meeting two makers: its update carries both fills, each maker's its one, and the sums
    of the fills are what the updates say was filled (quantity and quote)."""
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("alice", "USDC", 1_000_000_000), deposit("bob", "SOL", 10_000_000_000)])
    pipeline.run()
    pipeline.submit([place("bob", 1, "SOL_USDC", "sell", 15000, 1000),
                     place("bob", 2, "SOL_USDC", "sell", 15100, 1000)])
    pipeline.run()
    pipeline.submit([place("alice", 3, "SOL_USDC", "buy", 15100, 1500)])
    pipeline.run()

    trades = [t for batch in pipeline.records(TRADES.name) for t in batch["trades"]]
    updates = [u for batch in pipeline.records(ORDER_UPDATES.name) for u in batch["updates"]]
    assert all(u["fills"] == [] for u in updates if u["status"] == "NEW")
    [taker] = [u for u in updates if u["order_id"] == 3 and u["fills"]]
    assert [f["trade_id"] for f in taker["fills"]] == [t["trade_id"] for t in trades]
    assert [(f["price"], f["quantity"], f["maker"]) for f in taker["fills"]] == [(15000, 1000, False),
                                                                                 (15100, 500, False)]
    assert [f["fee"] for f in taker["fills"]] == [t["taker_fee"] for t in trades]
    assert (sum(f["quantity"] for f in taker["fills"]), sum(f["quote"] for f in taker["fills"])) == (
        taker["filled_quantity"], taker["filled_quote"])
    for maker_id, trade in zip((1, 2), trades):
        [maker] = [u for u in updates if u["order_id"] == maker_id and u["fills"]]
        assert maker["fills"] == [{"trade_id": trade["trade_id"], "price": trade["price"],
                                   "quantity": trade["quantity"], "quote": trade["quote"], "fee": trade["maker_fee"],
                                   "maker": True}]


def test_refusals_cost_nothing():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("carol", "USDT", 100)])
    pipeline.run()
    pipeline.submit([
        place("carol", 3, "BTC_USDT", "buy", 3_000_000, 1000),  # far more than 100 atoms
        place("carol", 4, "DOGE_USDT", "buy", 1, 1),
        cancel("carol", 424242, "BTC_USDT"),
        withdraw("carol", "USDT", 101),
    ])
    pipeline.run()
    results = [r for p in pipeline.logs["exchange.command-results"] for r in p if r["reason"]]
    assert sorted(r["reason"] for r in results) == ["insufficient_funds", "insufficient_funds", "unknown_market",
                                                    "unknown_order"]
    assert balances(pipeline, "carol") == {"USDT": (100, 0)}
    # Only the cancel travels to the book, which alone knows the order does not rest.
    [forwarded] = pipeline.records(ORDERS.name)
    assert [c["body"][0] for c in forwarded["commands"]] == ["exchange.CancelOrder"]


def replying(command: dict, reply_to: int) -> dict:
    return {**command, "reply_to": reply_to}


def test_outcomes_reach_only_the_reply_partition_their_command_named():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([replying(deposit("alice", "USDC", 1_000_000_000), 5), deposit("bob", "SOL", 10_000_000_000)])
    pipeline.run()
    pipeline.submit([place("bob", 1, "SOL_USDC", "sell", 15000, 2000)])  # nobody waits for it
    pipeline.run()
    pipeline.submit([replying(place("alice", 2, "SOL_USDC", "buy", 15100, 1000), 3),
                     replying(cancel("alice", 99, "SOL_USDC"), 3),
                     replying(place("alice", 4, "SOL_USDC", "buy", 100, 10**9), 5)])
    pipeline.run()

    replies = {p: log for p, log in enumerate(pipeline.logs[REPLIES.name]) if log}
    assert set(replies) == {3, 5}
    # Partition 5: the deposit's result, then the refused order (no funds for it).
    results_5 = [r for reply in replies[5] for r in reply["results"]]
    assert [(r["kind"], r["accepted"]) for r in results_5] == [("Deposit", True), ("PlaceOrder", False)]
    assert all(not reply["updates"] for reply in replies[5])
    # Partition 3: alice's order filled at once (as the take left it), the unknown cancel refused;
    # bob's order, which nobody waited for, is not there though it traded in the same take.
    updates_3 = [u for reply in replies[3] for u in reply["updates"]]
    assert {u["order_id"] for u in updates_3} == {2}
    assert updates_3[-1]["status"] == "FILLED"
    assert [r["reason"] for reply in replies[3] for r in reply["results"]] == ["unknown_order"]
    # The topics of record have everything, as before.
    assert {u["order_id"] for u in pipeline.records(ORDER_UPDATES.name)[-1]["updates"]} >= {1, 2}


def test_a_command_naming_a_partition_the_replies_topic_lacks_gets_no_reply():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([replying(deposit("alice", "USDC", 1), REPLIES.count), replying(deposit("bob", "USDC", 1), -1)])
    pipeline.run()
    assert not pipeline.records(REPLIES.name)
    assert len(pipeline.records("exchange.command-results")) == 2


def test_a_retry_with_the_same_client_order_id_is_refused_naming_the_first_order():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("dan", "USDC", 1_000_000_000)])
    pipeline.run()
    # The first request got no answer in time; its retry made a new order id with the same client id.
    pipeline.submit([place("dan", 7, "SOL_USDC", "buy", 100, 1000, client_order_id="mine-1"),
                     place("dan", 8, "SOL_USDC", "buy", 100, 1000, client_order_id="mine-1")])
    pipeline.run()
    [refused] = [r for p in pipeline.logs["exchange.command-results"] for r in p if r["reason"]]
    assert (refused["order_id"], refused["reason"], refused["existing_order_id"]) == (
        8, "duplicate_client_order_id", 7)
    assert balances(pipeline, "dan")["USDC"][1] > 0  # one hold, the first order's
    [forwarded] = [c for batch in pipeline.records(ORDERS.name) for c in batch["commands"]]
    assert forwarded["body"][1]["order_id"] == 7


def test_a_withdrawal_is_held_until_it_is_completed_or_failed():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("dave", "USDC", 1_000)])
    pipeline.run()
    first, second = withdraw("dave", "USDC", 600, "addr-1"), withdraw("dave", "USDC", 300, "addr-2")
    pipeline.submit([first, second, withdraw("dave", "USDC", 101)])  # the third finds 100 available
    pipeline.run()
    assert balances(pipeline, "dave") == {"USDC": (100, 900)}
    assert pipeline.accounts["dave"]["deposited"] == {"USDC": 1_000}

    def settle(request, completed, amount=None):
        body = request["body"][1]
        return settle_withdrawal("dave", request["command_id"], body["asset"], amount or body["amount"], completed)

    pipeline.submit([settle(first, True, amount=599), settle(first, True), settle(second, False),
                     settle(first, False), settle(second, True)])
    pipeline.run()
    # 600 left the exchange; 300 came back to available; a settled withdrawal cannot settle again.
    assert balances(pipeline, "dave") == {"USDC": (400, 0)}
    assert pipeline.accounts["dave"]["deposited"] == {"USDC": 400}
    assert pipeline.accounts["dave"]["withdrawals"] == {}
    results = [r for p in pipeline.logs["exchange.command-results"] for r in p]
    assert [(r["kind"], r["accepted"], r["reason"]) for r in results[1:]] == [
        ("Withdraw", True, None), ("Withdraw", True, None), ("Withdraw", False, "insufficient_funds"),
        ("SettleWithdrawal", False, "withdrawal_mismatch"), ("SettleWithdrawal", True, None),
        ("SettleWithdrawal", True, None), ("SettleWithdrawal", False, "unknown_withdrawal"),
        ("SettleWithdrawal", False, "unknown_withdrawal")]
    assert (results[1]["reference"], results[1]["amount"]) == ("addr-1", 600)
    assert [(r["withdrawal_id"], r["completed"]) for r in results[5:7]] == [
        (first["command_id"], True), (second["command_id"], False)]
    assert_conserved(pipeline)


def test_pending_withdrawals_per_account_are_bounded():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("erin", "USDT", 1_000)])
    pipeline.run()
    pipeline.submit([withdraw("erin", "USDT", 1) for _ in range(MAX_PENDING_WITHDRAWALS + 1)])
    pipeline.run()
    refused = [r["reason"] for p in pipeline.logs["exchange.command-results"] for r in p if not r["accepted"]]
    assert refused == ["too_many_pending_withdrawals"]
    assert balances(pipeline, "erin") == {"USDT": (1_000 - MAX_PENDING_WITHDRAWALS, MAX_PENDING_WITHDRAWALS)}


def random_workload(seed: int, n: int) -> list[list[dict]]:
    accounts = workload.traders(MARKETS, PARTITIONS, per_market=6, prefix=f"t{seed}")
    return workload.random_workload(seed, MARKETS, accounts, n, first_order_id=1_000_000)


def run(batches: list[list[dict]], crash_rate: float, seed: int) -> Pipeline:
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS, crash_rate=crash_rate, seed=seed)
    for batch in batches:
        pipeline.submit(batch)
        for _ in range(pipeline.random.randint(0, 6)):  # interleave submitting and processing
            if ready := pipeline.pending_inputs():
                pipeline.step(*pipeline.random.choice(ready))
    pipeline.run()
    pipeline.crash_rate = 0.0
    pipeline.run()
    return pipeline


def unique_trades(pipeline: Pipeline) -> dict[tuple[str, int], dict]:
    return checks.unique_trades(pipeline.records(TRADES.name))


def books(pipeline: Pipeline) -> dict[str, list]:
    """Restore every market from the table alone, as a restarted worker would."""
    restored = BookJournal(dict(pipeline.book_rows)).restore(MARKETS)
    return {market: sorted(state.rows) for market, state in restored.items()}


def assert_conserved(pipeline: Pipeline) -> None:
    checks.assert_money_conserved(pipeline.accounts)


def assert_consistent(pipeline: Pipeline) -> None:
    order_batches = [batch for partition in pipeline.logs[ORDERS.name] for batch in partition]
    checks.assert_consistent(MARKETS, pipeline.accounts, books(pipeline), unique_trades(pipeline), order_batches)


@pytest.mark.parametrize("seed", range(4))
def test_random_flow_keeps_money_books_and_trades_consistent(seed):
    pipeline = run(random_workload(seed, 1500), crash_rate=0.0, seed=seed)
    assert_consistent(pipeline)
    assert len(unique_trades(pipeline)) > 50
    settled = [r for p in pipeline.logs["exchange.command-results"] for r in p if r["kind"] == "SettleWithdrawal"]
    assert {r["completed"] for r in settled if r["accepted"]} == {True, False}


@pytest.mark.parametrize("seed", range(6))
def test_crashes_anywhere_lose_nothing_and_apply_nothing_twice(seed):
    batches = random_workload(100 + seed, 1500)
    calm = run(batches, crash_rate=0.0, seed=seed)
    stormy = run(batches, crash_rate=0.05, seed=seed + 1000)
    assert stormy.crashes >= 10
    assert_consistent(stormy)
    assert unique_trades(stormy) == unique_trades(calm)
    assert books(stormy) == books(calm)
    assert {a: s["balances"] for a, s in stormy.accounts.items()} == \
        {a: s["balances"] for a, s in calm.accounts.items()}


def test_a_full_depth_book_follows_the_first_change_after_a_restore_then_one_a_minute():
    pipeline = Pipeline(MARKETS, ASSETS, PARTITIONS)
    pipeline.submit([deposit("bob", "SOL", 10**12)])
    pipeline.run()

    def offer(order_id: int, at_ms: int) -> None:
        pipeline.clock_ms = at_ms - 1_000  # the pipeline's clock moves a second per take
        pipeline.submit([place("bob", order_id, "SOL_USDC", "sell", 15000 + order_id, 1000)])
        pipeline.run()

    offer(1, 1_000)  # the market's first change since its engine was restored
    offer(2, 30_000)
    offer(3, 61_000)  # a minute after the first full book
    offer(4, 62_000)
    pipeline.restart()  # a new worker restores the engine
    offer(5, 63_000)
    updates = pipeline.records(DEPTH.name)
    assert [u["full"] for u in updates] == [False, True, False, False, True, False, False, True]
    for change, full in zip(updates, updates[1:]):
        if full["full"]:  # the book as of the change just before it
            assert full["first_update_id"] == full["last_update_id"] == change["last_update_id"]
    full = updates[-1]
    assert [(level["price"], level["quantity"]) for level in full["asks"]] == [(15000 + i, 1000) for i in range(1, 6)]
    assert full["bids"] == []
