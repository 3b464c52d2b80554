"""`exchange bench recorder`: trades/s the read side writes to Cassandra with one recorder.

Starts a recorder process of its own against the configured Kafka and Cassandra, defines fresh
markets, puts N synthetic trades on exchange.trades (in batches, as matching does), and times
from the first send until the recorder group has committed every input message, that is until
Cassandra has acknowledged every row: per trade a market row, two fills and
the fee account's entry, plus the candles and tickers marketdata derives from them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from aiokafka import AIOKafkaProducer

from exchange.config import Settings
from exchange.kafka_io import ensure_topics
from schemas.codec import codec
from schemas.topics import TRADES

from .pipeline import WorkerProcess, define, wait_caught_up

ROWS_PER_TRADE = 4  # market row, two fills, fee income (fill legs are derived when read)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench recorder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="trades to record")
    parser.add_argument("--per-message", type=int, default=20, help="trades per exchange.trades message")
    args = parser.parse_args(argv)
    return asyncio.run(_run(Settings.from_env(), args))


def trades(markets: dict[str, dict], traders: dict[str, list[str]], n: int, per_message: int):
    """(market, partition, TradeBatch) messages of n trades spread over the markets."""
    rng = random.Random(1)
    next_id = {symbol: 1 for symbol in markets}
    start = int(time.time() * 1000) - 3_600_000
    for index in range(0, n, per_message):
        symbol = rng.choice(sorted(markets))
        batch = []
        for i in range(min(per_message, n - index)):
            maker, taker = rng.sample(traders[symbol], 2)
            quantity, price = rng.randint(1, 1000), rng.randint(9000, 11000)
            batch.append({"trade_id": next_id[symbol], "market": symbol, "price": price, "quantity": quantity,
                          "quote": price * quantity * markets[symbol]["quote_per_tick_step"],
                          "taker_side": rng.choice(["buy", "sell"]), "maker_order_id": rng.randrange(10**12),
                          "maker_account": maker, "taker_order_id": rng.randrange(10**12), "taker_account": taker,
                          "maker_fee": 10, "taker_fee": 20, "ts": start + (index + i) * 10})
            next_id[symbol] += 3
        yield symbol, markets[symbol]["partition"], {"market": symbol, "trades": batch}


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.read_worker import READ_APP_ID, RECORDED

    await ensure_topics(settings)
    markets, traders = await define(settings)
    topics = tuple(topic.name for topic in RECORDED)
    with WorkerProcess(settings, "recorder"):
        await wait_caught_up(settings, group=READ_APP_ID, topics=topics)  # started, schema applied
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
        await producer.start()
        try:
            started = time.perf_counter()
            for symbol, partition, batch in trades(markets, traders, args.n, args.per_message):
                await producer.send(TRADES.name, codec.encode(TRADES.record, batch), key=symbol.encode(),
                                    partition=partition)
            await producer.flush()
            await wait_caught_up(settings, group=READ_APP_ID, topics=topics)
            elapsed = time.perf_counter() - started
        finally:
            await producer.stop()
    print(f"recorder: {args.n:,} trades in {elapsed:.1f}s = {args.n / elapsed:,.0f} trades/s "
          f"(~{args.n * ROWS_PER_TRADE / elapsed:,.0f} Cassandra rows/s; one recorder process)")
    return 0
