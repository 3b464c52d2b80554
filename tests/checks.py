"""What must hold after any run of the pipeline, in memory or on real Kafka."""

from __future__ import annotations

from collections import Counter

from exchange.reference import market_spec
from streams.engine import Engine, Trade
from streams.matching_stage import engine_command


def replay_through_pure_engines(markets: dict[str, dict], order_batches: list[dict]) -> tuple[dict, dict]:
    """Each market's accepted commands, first delivery of each batch only, through a fresh engine.

    `order_batches` must keep each exchange.orders partition's order. Returns the trades
    {(market, trade_id): (price, qty, maker order, taker order)} and the books {market: rows}.
    """
    engines = {market: Engine(market_spec(definition)) for market, definition in markets.items()}
    applied: dict[tuple[str, int], int] = {}
    trades = {}
    for batch in order_batches:
        key = (batch["market"], batch["source_partition"])
        if batch["source_offset"] <= applied.get(key, -1):
            continue
        applied[key] = batch["source_offset"]
        engine = engines[batch["market"]]
        for command in batch["commands"]:
            for event in engine.handle(engine_command(command)):
                if isinstance(event, Trade):
                    trades[(batch["market"], event.seq)] = (event.price, event.qty, event.maker_order_id,
                                                            event.taker_order_id)
    return trades, {market: sorted(engine.export()[0]) for market, engine in engines.items()}


def unique_trades(trade_batches: list[dict]) -> dict[tuple[str, int], dict]:
    """Trades by (market, trade_id); a trade re-sent after a crash must be identical."""
    trades: dict[tuple[str, int], dict] = {}
    for batch in trade_batches:
        for trade in batch["trades"]:
            key = (trade["market"], trade["trade_id"])
            assert trades.setdefault(key, trade) == trade, f"trade {key} re-sent with other content"
    return trades


def assert_money_conserved(accounts: dict[str, dict]) -> None:
    """Per asset: all balances, the fee account's included, equal deposits minus withdrawals;
    nothing is negative; each account's held balance is exactly the sum of its holds and pending
    withdrawals."""
    totals, deposited = Counter(), Counter()
    for state in accounts.values():
        for asset, balance in state["balances"].items():
            assert balance["available"] >= 0 and balance["held"] >= 0, (state["account"], asset, balance)
            totals[asset] += balance["available"] + balance["held"]
            held = sum(h["amount"] for h in state["holds"].values() if h["asset"] == asset)
            held += sum(w["amount"] for w in state["withdrawals"].values() if w["asset"] == asset)
            assert held == balance["held"], (state["account"], asset, held, balance)
        deposited.update(state["deposited"])
    assert +totals == +deposited


def assert_consistent(markets: dict[str, dict], accounts: dict[str, dict], books: dict[str, list],
                      trades: dict[tuple[str, int], dict], order_batches: list[dict]) -> None:
    """Money conserved; trades and books exactly what pure engines make of the accepted commands;
    funds held for exactly the orders that rest."""
    assert_money_conserved(accounts)
    oracle_trades, oracle_books = replay_through_pure_engines(markets, order_batches)
    assert {k: (t["price"], t["quantity"], t["maker_order_id"], t["taker_order_id"]) for k, t in trades.items()} \
        == oracle_trades
    assert books == oracle_books
    resting = {row.order_id for rows in oracle_books.values() for row in rows}
    held = {int(order_id) for state in accounts.values() for order_id in state["holds"]}
    assert held == resting
