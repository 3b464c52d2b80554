"""The asset reports count every balance and money movement once, whatever crashes cut short."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import codec
from schemas.topics import ASSET_REPORTS, BALANCES, COMMAND_RESULTS, FEE_ACCOUNT
from streams.asset_reports import AssetReportsStage, record_of, report_key

ACCOUNTS = ("ada", "bob", FEE_ACCOUNT)
ASSETS = ("SOL", "USDC")
PARTITION_OF = {"ada": 0, "bob": 1, FEE_ACCOUNT: 1}


def balance(account: str, asset: str, available: int, held: int, ts: int) -> dict:
    return {"account": account, "balances": [{"asset": asset, "available": available, "held": held}], "ts": ts,
            "settlement_offset": None}


def result(account: str, kind: str, asset: str, amount: int, ts: int, completed: bool | None = None) -> dict:
    return {"command_id": f"c{ts}", "account": account, "accepted": True, "reason": None, "order_id": None, "ts": ts,
            "kind": kind, "asset": asset, "amount": amount, "reference": None, "withdrawal_id": None,
            "completed": completed, "existing_order_id": None}


def with_offsets(records: list[tuple[str, dict]]) -> list[SimpleNamespace]:
    """Messages as a consumer takes them: each on its account's partition, offsets in order."""
    next_offset: dict[tuple[str, int], int] = {}
    messages = []
    for topic, record in records:
        partition = PARTITION_OF[record["account"]]
        offset = next_offset.get((topic, partition), 0)
        next_offset[(topic, partition)] = offset + 1
        messages.append(SimpleNamespace(topic=topic, partition=partition, offset=offset, record=record))
    return messages


def run_take(table: dict, messages: list, cut: int | None = None) -> list[dict]:
    """One take: decided, sent, then written; with `cut`, a crash after only the first `cut` rows
    of each partition reached the changelog."""
    stage = AssetReportsStage(table)
    stage.begin(0)
    for m in messages:
        stage.decide(m, m.record)
    decided = stage.end()
    for out in decided.messages:
        assert out.topic == ASSET_REPORTS
        codec.encode(ASSET_REPORTS.record, out.record)
    for rows in decided.rows.values():
        for key, row in list(rows.items())[:cut]:
            codec.encode(record_of(key), row)
            table[key] = row
    return [out.record for out in decided.messages]


def totals(table: dict) -> dict[str, dict[str, int]]:
    summed: dict[str, dict[str, int]] = {}
    for partition in (0, 1):
        for t in (table.get(report_key(partition)) or {"assets": []})["assets"]:
            into = summed.setdefault(t["asset"], {"holdings": 0, "fee_income": 0, "deposits": 0, "withdrawals": 0})
            for field in into:
                into[field] += t[field]
    return summed


def test_holdings_follow_balances_and_money_counts_deposits_and_completed_withdrawals():
    table: dict = {}
    messages = with_offsets([
        (COMMAND_RESULTS.name, result("ada", "Deposit", "USDC", 100, 1)),
        (BALANCES.name, balance("ada", "USDC", 100, 0, 1)),
        (BALANCES.name, balance("ada", "USDC", 60, 30, 2)),  # an order holds 30
        (BALANCES.name, balance("bob", "USDC", 7, 0, 3)),
        (BALANCES.name, balance(FEE_ACCOUNT, "USDC", 3, 0, 3)),
        (COMMAND_RESULTS.name, result("ada", "SettleWithdrawal", "USDC", 10, 4, completed=True)),
        (COMMAND_RESULTS.name, result("ada", "SettleWithdrawal", "USDC", 5, 5, completed=False)),
    ])
    sent = run_take(table, messages)
    assert sorted(r["partition"] for r in sent) == [0, 1]
    assert totals(table) == {"USDC": {"holdings": 100, "fee_income": 3, "deposits": 100, "withdrawals": 10}}
    assert run_take(table, messages) == []  # read again: nothing new


@st.composite
def histories(draw):
    """Deposits, trades moving money between accounts (with a fee), withdrawals: each account's
    balances after each, as the accounts stage would publish them."""
    money = {(a, s): 0 for a in ACCOUNTS for s in ASSETS}
    records: list[tuple[str, dict]] = []
    for ts in range(draw(st.integers(1, 30))):
        account, asset = draw(st.sampled_from(ACCOUNTS[:2])), draw(st.sampled_from(ASSETS))
        step = draw(st.sampled_from(["deposit", "trade", "withdraw"]))
        amount = draw(st.integers(1, 50))
        if step == "deposit":
            money[(account, asset)] += amount
            records.append((COMMAND_RESULTS.name, result(account, "Deposit", asset, amount, ts)))
            records.append((BALANCES.name, balance(account, asset, money[(account, asset)], 0, ts)))
        elif step == "trade" and money[(account, asset)] >= amount:
            other, fee = ACCOUNTS[1 - ACCOUNTS.index(account)], amount // 10
            money[(account, asset)] -= amount
            money[(other, asset)] += amount - fee
            money[(FEE_ACCOUNT, asset)] += fee
            for who in (account, other, FEE_ACCOUNT):
                records.append((BALANCES.name, balance(who, asset, money[(who, asset)], 0, ts)))
        elif step == "withdraw" and money[(account, asset)] >= amount:
            money[(account, asset)] -= amount
            records.append((BALANCES.name, balance(account, asset, money[(account, asset)], 0, ts)))
            records.append((COMMAND_RESULTS.name, result(account, "SettleWithdrawal", asset, amount, ts, True)))
    return records, money


@settings(max_examples=300, deadline=None)
@given(histories(), st.data())
def test_any_crash_leaves_reports_that_add_up_once_the_input_is_read_again(history, data):
    """Takes of any size; a take may crash after any prefix of its rows is written, and is then read
    again from the last take that was written whole. At the end every asset's holdings (and the
    fee account's) are what the balances say, and equal deposits less withdrawals."""
    records, money = history
    messages = with_offsets(records)
    table: dict = {}
    done = 0
    while done < len(messages):
        size = data.draw(st.integers(1, 8))
        take = messages[done:done + size]
        if data.draw(st.booleans()):
            run_take(table, take, cut=data.draw(st.integers(0, 8)))  # a crash: the take is read again
            continue
        run_take(table, take)
        done += len(take)
    summed = totals(table)
    for asset in ASSETS:
        got = summed.get(asset, {"holdings": 0, "fee_income": 0, "deposits": 0, "withdrawals": 0})
        assert got["holdings"] == sum(money[(a, asset)] for a in ACCOUNTS)
        assert got["fee_income"] == money[(FEE_ACCOUNT, asset)]
        assert got["holdings"] == got["deposits"] - got["withdrawals"]
