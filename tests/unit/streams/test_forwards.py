"""The accounts stage forwards a batch's first-time messages together and a replayed one alone."""

from __future__ import annotations

from exchange.commands import deposit, place
from exchange.reference import make_asset, make_market
from schemas.topics import COMMANDS, ORDERS
from streams.accounts_stage import AccountsStage
from streams.batch import Taken

SOL, USDC = make_asset("SOL", 9, 0), make_asset("USDC", 6, 0)
ASSETS = {"SOL": SOL, "USDC": USDC}
MARKETS = {"SOL_USDC": make_market("SOL_USDC", SOL, USDC, tick="0.01", step="0.001", maker_fee="0.001",
                                   taker_fee="0.002", partition=1, ts=0)}


def run_batch(stage: AccountsStage, table: dict, messages: list[tuple[int, int, list[dict]]]) -> list[dict]:
    """One batch as the worker runs it; the forwards it sends, in order."""
    stage.table = table
    stage.begin(now_ms=0)
    for partition, offset, commands in messages:
        stage.decide(Taken(COMMANDS.name, partition, offset, None, None), {"commands": commands})
    decided = stage.end()
    for partition_rows in decided.rows.values():
        for key, value in partition_rows.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    return [m.record for m in decided.messages if m.topic is ORDERS]


def order(account: str, order_id: int) -> dict:
    return place(account, order_id, "SOL_USDC", "buy", 15000, 1000)


def test_first_time_messages_share_one_forward_per_market_with_the_last_offset():
    table: dict = {}
    stage = AccountsStage(table, MARKETS, ASSETS, partitions=2)
    run_batch(stage, table, [(0, 0, [deposit("alice", "USDC", 10**12)]), (1, 0, [deposit("bob", "USDC", 10**12)])])

    forwards = run_batch(stage, table, [(0, 1, [order("alice", 1)]), (1, 1, [order("bob", 2)]),
                                        (0, 2, [order("alice", 3)]), (0, 3, [order("alice", 4)])])

    by_source = {(f["source_partition"], f["source_offset"]): [c["body"][1]["order_id"] for c in f["commands"]]
                 for f in forwards}
    assert by_source == {(0, 3): [1, 3, 4], (1, 1): [2]}


def test_a_replayed_message_is_forwarded_alone_with_its_own_offset_before_first_time_ones():
    table: dict = {}
    stage = AccountsStage(table, MARKETS, ASSETS, partitions=2)
    run_batch(stage, table, [(0, 0, [deposit("alice", "USDC", 10**12)])])
    run_batch(stage, table, [(0, 1, [order("alice", 1)]), (0, 2, [order("alice", 2)])])

    # A crash before the offsets were committed: offsets 1 and 2 are read again, with a new one.
    forwards = run_batch(stage, table, [(0, 1, [order("alice", 1)]), (0, 2, [order("alice", 2)]),
                                        (0, 3, [order("alice", 3)])])

    assert [(f["source_offset"], [c["body"][1]["order_id"] for c in f["commands"]]) for f in forwards] == \
        [(1, [1]), (2, [2]), (3, [3])]
