"""Random but reproducible order flow for the pipeline tests, in memory and on real Kafka.

Each market's traders are chosen so their accounts live on the market's own commands partition.
Then a market's order flow is one partition's order, the same in every run, and two runs of one
workload must end with identical trades, books and balances, however the stages interleave.
Traders are funded far beyond what they trade, and market buys name their funds, so no decision
depends on when a settlement arrives.
"""

from __future__ import annotations

import random
from collections import defaultdict

from exchange.commands import cancel, deposit, place, settle_withdrawal, withdraw
from schemas.topics import account_partition


def traders(markets: dict[str, dict], partitions: int, per_market: int, prefix: str) -> dict[str, list[str]]:
    chosen = {}
    for market, definition in markets.items():
        names = (f"{prefix}-{market.lower()}-{i}" for i in range(100_000))
        chosen[market] = [a for a in names if account_partition(a, partitions) == definition["partition"]][:per_market]
    return chosen


def random_workload(seed: int, markets: dict[str, dict], accounts: dict[str, list[str]], n: int,
                    first_order_id: int, batch_size: int = 10) -> list[list[dict]]:
    """Batches of about n commands: funding first, then 61% limits, 25% cancels, 10% market orders,
    2% withdrawals and 2% settlements of them (most completed, some failed)."""
    rng = random.Random(seed)
    order_ids = iter(range(first_order_id, first_order_id + n + 1))
    funding = [deposit(a, asset, 10**15) for market, names in accounts.items() for a in names
               for asset in (markets[market]["base"], markets[market]["quote"])]
    batches = [funding]
    live: dict[str, list[tuple[str, int]]] = defaultdict(list)
    withdrawing: dict[str, list[dict]] = defaultdict(list)
    symbols = sorted(markets)
    for _ in range(n // batch_size):
        batch = []
        for _ in range(batch_size):
            market = rng.choice(symbols)
            account = rng.choice(accounts[market])
            side = rng.choice(["buy", "sell"])
            roll = rng.random()
            if roll < 0.25 and live[market]:
                owner, order_id = live[market].pop(rng.randrange(len(live[market])))
                batch.append(cancel(owner, order_id, market, ts=0))
            elif roll < 0.35:
                funds = rng.randint(10**4, 10**8) if side == "buy" else None
                qty = rng.choice([None, rng.randint(1, 50)]) if funds else rng.randint(1, 50)
                batch.append(place(account, next(order_ids), market, side, None, qty, type="market",
                                   time_in_force=rng.choice(["IOC", "FOK"]), quote_quantity=funds, ts=0))
            elif roll < 0.37:
                asset = markets[market][rng.choice(["base", "quote"])]
                request = withdraw(account, asset, rng.randint(1, 10**6))
                batch.append(request)
                withdrawing[market].append(request)
            elif roll < 0.39 and withdrawing[market]:
                request = withdrawing[market].pop(rng.randrange(len(withdrawing[market])))
                body = request["body"][1]
                batch.append(settle_withdrawal(request["account"], request["command_id"], body["asset"],
                                               body["amount"], completed=rng.random() < 0.7))
            else:
                order_id = next(order_ids)
                batch.append(place(account, order_id, market, side, rng.randint(990, 1010), rng.randint(1, 40),
                                   time_in_force=rng.choice(["GTC", "GTC", "GTC", "IOC", "FOK"]), ts=0))
                live[market].append((account, order_id))
        batches.append(batch)
    return batches
