"""`exchange partitions grow`: an exchange that traded on 2 partitions goes on trading on 4.

The partition count is one for all topics of a Kafka cluster, and the session's `infra` has its
own, so these tests run a Kafka broker of their own (no Cassandra: the order flow does not use it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rocksdict import AccessType, Options, Rdict

from exchange.commands import CommandProducer, cancel, deposit, place
from exchange.kafka_io import group_coordinator_ready, publish
from exchange.partitions import (
    ACCOUNTS_CHANGELOG,
    BARS_CHANGELOG,
    BOOK_CHANGELOG,
    CORE_GROUP,
    CORE_INPUTS,
    READ_GROUP,
    READ_INPUTS,
    REPLY_GROUP,
    GrowError,
    grow,
    grown_topics,
    read_changelog,
)
from exchange.reference import make_asset, make_market
from infra.local.kafka import KafkaNode, new_cluster_id
from infra.local.toolchain import find_java
from schemas.topics import ASSETS, FEE_ACCOUNT, MARKETS, account_partition
from streams.account import account_of
from tests import checks
from tests.conftest import throwaway_settings
from tests.integration.flow import REPO, Workers, define_markets, outcome, partitions_of, suffix, wait_until_quiet

BEFORE, AFTER = 2, 4


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory):
    """One broker of this module's own, its topics made with 2 partitions."""
    settings = dataclasses.replace(throwaway_settings(tmp_path_factory.mktemp("kafka")), partitions=BEFORE)
    node = KafkaNode(settings, 0, 1, new_cluster_id())
    node.start(find_java())
    try:
        deadline = time.monotonic() + 120
        while not node.answers():
            assert node.process.alive(), f"Kafka exited; see {node.log_file}"
            assert time.monotonic() < deadline, f"Kafka did not answer; see {node.log_file}"
            time.sleep(0.5)
        asyncio.run(group_coordinator_ready(settings))
        yield settings
    finally:
        node.process.stop()


def _accounts(tag: str) -> dict[str, str]:
    """Two accounts that move (one from each old partition) and two that stay."""
    names = [f"u{tag}{i}" for i in range(200)]

    def pick(old: int, moves: bool) -> str:
        return next(n for n in names if account_partition(n, BEFORE) == old
                    and (account_partition(n, AFTER) != old) == moves)

    return {"m0": pick(0, True), "m1": pick(1, True), "s0": pick(0, False), "s1": pick(1, False)}


def _lasting(accounts: dict[str, dict]) -> dict[str, dict]:
    """What the move must keep of each account: money and holds, not the per-partition offsets."""
    return {name: {"balances": state["balances"], "deposited": state["deposited"],
                   "settled_seq": state["settled_seq"], "withdrawals": state["withdrawals"],
                   "holds": {order: {k: v for k, v in hold.items() if k != "command_offset"}
                             for order, hold in state["holds"].items()}}
            for name, state in accounts.items()}


async def _refused(settings, match: str) -> None:
    with pytest.raises(GrowError, match=match):
        await grow(settings, AFTER, say=lambda line: None)
    assert len(await partitions_of(settings, "exchange.commands")) == BEFORE  # nothing changed


def _grow_cli(settings) -> str:
    env = os.environ | settings.to_env()
    done = subprocess.run([sys.executable, "-m", "exchange.cli", "partitions", "grow", "--to", str(AFTER)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _local_rows(state_dir: Path) -> dict[int, set[str]]:
    """The keys of the accounts table's partitions in a worker's own RocksDB files."""
    found: dict[int, set[str]] = {}
    for path in state_dir.glob("workers/exchange-a/**/accounts-*.db"):
        partition = int(path.name.removeprefix("accounts-").removesuffix(".db"))
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            found[partition] = {key.decode() for key in db.keys() if not key.startswith(b"__faust")}
        finally:
            db.close()
    return found


@pytest.mark.runs
@pytest.mark.timeout(300)
async def test_an_exchange_grown_from_2_to_4_partitions_keeps_every_account_and_trades_on(own_kafka, tmp_path):
    settings = own_kafka
    tag = suffix()
    markets = await define_markets(settings, tag)
    m0 = next(m for m in markets.values() if m["partition"] == 0)["symbol"]  # S…0_U…: tick 0.01, step 0.001
    base, quote = markets[m0]["base"], markets[m0]["quote"]
    who = _accounts(tag)
    names = set(who.values())
    commands = CommandProducer(settings)
    await commands.start()
    workers = Workers(settings, tmp_path)
    try:
        await commands.send([deposit(a, asset, amount) for a in names
                             for asset, amount in ((quote, 1_000_000_000), (base, 10_000_000_000))])
        await _refused(settings, "consumer group exchange has not read everything")
        workers.start("a")
        await commands.send([place(who["m0"], 1, m0, "buy", 10000, 1000, client_order_id="keep"),  # 1 @ 100
                             place(who["m1"], 2, m0, "sell", 20000, 2000),  # 2 @ 200
                             place(who["m1"], 3, m0, "buy", 9000, 1000),  # 1 @ 90
                             place(who["s1"], 4, m0, "sell", 30000, 1000)])  # 1 @ 300
        await wait_until_quiet(settings, workers)  # partitions go their own pace: the book first
        await commands.send([place(who["s0"], 5, m0, "buy", 20000, 1000)])  # takes 1 of m1's 2 @ 200
        await wait_until_quiet(settings, workers)
        await _refused(settings, "consumer group exchange has 1 active member")
        workers.stop("a")
        before = await outcome(settings, markets, names)
        assert len(before.trades) == 1 and before.accounts[who["m1"]]["holds"]
        checks.assert_money_conserved(before.accounts)

        first = _grow_cli(settings)
        for topic in ("exchange.commands", "exchange.settlements", "exchange.balances", ACCOUNTS_CHANGELOG,
                      BOOK_CHANGELOG):
            assert f"{topic}: {BEFORE} -> {AFTER} partitions" in first
            assert len(await partitions_of(settings, topic)) == AFTER
        assert f"{BARS_CHANGELOG}: does not exist" in first  # no recorder ran here
        for role in ("m0", "m1"):
            old, new = account_partition(who[role], BEFORE), account_partition(who[role], AFTER)
            assert f"{who[role]}: partition {old} -> {new}" in first
        assert "accounts moved: 2 " in first, first  # m0, m1: the fee account stays
        again = _grow_cli(settings)  # idempotent: nothing left to do
        assert "accounts moved: 0 " in again and f"has {AFTER} partitions already" in again

        # Every row lives on its account's new partition, and every account is what it was.
        for partition, rows in (await read_changelog(settings, ACCOUNTS_CHANGELOG)).items():
            assert {account_partition(account_of(key), AFTER) for key in rows} <= {partition}
        after_move = await outcome(settings, markets, names)
        assert _lasting(after_move.accounts) == _lasting(before.accounts)
        assert after_move.books == before.books

        # A market on a new partition; then the workers again, with the new count and their old disks.
        grown = dataclasses.replace(settings, partitions=AFTER)
        new_base = make_asset(f"N{tag}", 9, 0)
        await publish(grown, ASSETS, new_base["symbol"], new_base)
        m3 = f"N{tag}_{quote}"
        markets[m3] = make_market(m3, new_base, make_asset(quote, 6, 0), tick="0.01",
                                  step="0.001", maker_fee="0.001", taker_fee="0.002", partition=AFTER - 1, ts=0)
        await publish(grown, MARKETS, m3, markets[m3])
        await commands.stop()
        commands = CommandProducer(grown)
        await commands.start()
        workers = Workers(grown, tmp_path)
        workers.start("a")
        held = before.accounts[who["m0"]]["holds"][1]
        await commands.send([cancel(who["m0"], 1, m0),  # the moved account's old order and hold
                             place(who["s0"], 7, m0, "buy", 20000, 1000),  # takes the rest of m1's old sell
                             deposit(who["m0"], new_base["symbol"], 5_000_000_000),
                             place(who["m0"], 8, m3, "sell", 5000, 2000)])  # 2 @ 50 on the new partition
        await wait_until_quiet(grown, workers)
        await commands.send([place(who["m1"], 6, m0, "buy", 30000, 1000),  # takes s1's old 1 @ 300
                             place(who["s1"], 9, m3, "buy", 5000, 1000),
                             cancel(who["m0"], 1, m0)])  # again: released once only
        await wait_until_quiet(grown, workers)
        workers.stop("a")

        result = await outcome(grown, markets, names)
        trades = {(t["market"], t["maker_order_id"], t["taker_order_id"]) for t in result.trades.values()}
        assert trades == {(m0, 2, 5), (m0, 4, 6), (m0, 2, 7), (m3, 8, 9)}
        checks.assert_consistent(markets, result.accounts, result.books, result.trades, result.order_batches)
        m0_after, m0_before = result.accounts[who["m0"]], before.accounts[who["m0"]]
        assert 1 not in m0_after["holds"]
        sold = 50_000_000 - 50_000  # 1 @ 50 on the new market, less the maker's 0.1%
        assert m0_after["balances"][quote] == {
            "available": m0_before["balances"][quote]["available"] + held["amount"] + sold,
            "held": m0_before["balances"][quote]["held"] - held["amount"]}
        assert set(result.accounts[who["m1"]]["holds"]) == {3}  # its 1 @ 90 rests on
        assert result.accounts[FEE_ACCOUNT]["balances"][quote]["available"] > \
            before.accounts[FEE_ACCOUNT]["balances"][quote]["available"]

        # The worker's own RocksDB caught up from the changelog: moved rows on the new partitions,
        # none left on the old ones.
        local = _local_rows(tmp_path)
        for role in ("m0", "m1"):
            account = who[role]
            assert account in local[account_partition(account, AFTER)]
            assert not {k for k in local.get(account_partition(account, BEFORE), set()) if account_of(k) == account}
    finally:
        workers.stop_all()
        await commands.stop()


def test_the_groups_and_changelogs_named_are_the_apps_own():
    from api.feeds import REPLY_GROUP as api_group
    from streams.read_worker import READ_APP_ID
    from streams.recorder_stage import RECORDED
    from streams.worker import APP_ID
    from tests.integration.flow import INPUTS

    assert (CORE_GROUP, READ_GROUP, REPLY_GROUP) == (APP_ID, READ_APP_ID, api_group)
    assert tuple(t.name for t in CORE_INPUTS) == INPUTS and READ_INPUTS == RECORDED
    assert {ACCOUNTS_CHANGELOG, BOOK_CHANGELOG, BARS_CHANGELOG} <= set(grown_topics())
