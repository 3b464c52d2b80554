"""copy_row: the stage may change a copied row in every way the rules allow, and the original stays."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.reference import make_asset, make_market
from streams.account import Account, copy_row, hold_key, new_state

SOL, USDC = make_asset("SOL", 9, 0), make_asset("USDC", 6, 0)
MARKET = make_market("SOL_USDC", SOL, USDC, tick="0.01", step="0.001", maker_fee="0.001", taker_fee="0.002",
                     partition=0, ts=0)

operations = st.lists(st.tuples(st.sampled_from(["deposit", "withdraw", "complete", "fail", "place", "fill",
                                                 "release"]),
                                st.integers(1, 6), st.integers(1, 10**6)), max_size=25)


def apply(account: Account, rows: dict, ops: list, offset: int) -> int:
    """Run the operations the accounts stage runs, keeping each hold row where the stage would."""
    for kind, order_id, amount in ops:
        offset += 1
        if kind == "deposit":
            account.deposit("USDC", amount)
        elif kind == "withdraw":
            account.withdraw(f"w{order_id}", "USDC", amount)
        elif kind in ("complete", "fail"):
            pending = account.state["withdrawals"].get(f"w{order_id}")
            if pending is not None:
                account.settle_withdrawal(f"w{order_id}", "USDC", pending["amount"], kind == "complete")
        elif kind == "place":
            account.place({"order_id": order_id, "client_order_id": f"c{order_id}", "market": "SOL_USDC",
                           "side": "buy", "type": "limit", "price": 100, "quantity": 1 + amount % 50}, MARKET, offset)
            account.state["refused"][str(offset)] = "insufficient_funds"
            account.state["last_command_offset"] = offset
        else:
            hold = account.hold(order_id)
            if hold is None or hold["released"]:
                continue
            seq = account.state["settled_seq"].get("SOL_USDC", 0) + 1
            item = {"seq": seq, "kind": "release", "order_id": order_id}
            if kind == "fill":
                item.update(kind="fill", side="buy", base=1, quote=min(1, hold["amount"]), fee=0)
            account.settle(MARKET, item)
        for key, row in account.writes.items():  # None deletes, as in the table
            if row is None:
                rows.pop(key, None)
            else:
                rows[key] = row
        account.writes = {}
    return offset


@settings(max_examples=200, deadline=None)
@given(before=operations, after=operations, read_from_table=st.booleans())
def test_changing_a_copy_leaves_the_rows_it_came_from(before, after, read_from_table):
    rows: dict = {}
    account = Account(new_state("alice"), rows)
    offset = apply(account, rows, before, 0)
    rows["alice"] = account.state
    snapshot = copy.deepcopy(rows)

    copies = {key: copy_row(key, row) for key, row in rows.items()}
    assert copies == rows
    later = Account(copies["alice"], copies, released_durable=read_from_table)
    apply(later, copies, after, offset)
    later.row_writes()

    assert rows == snapshot


def test_a_hold_copy_is_its_own_row():
    row = {"order_id": 1, "market": "SOL_USDC", "asset": "USDC", "amount": 5, "client_order_id": None,
           "command_offset": 0, "settled_seq": 0, "released": False}
    copied = copy_row(hold_key("alice", 1), row)
    copied["amount"] = 0
    assert row["amount"] == 5
