"""`exchange bench stages` runs the real stages faithfully: what it measures is the worker's work."""

from bench.pipeline import OrderFlow, bench_markets, funding
from bench.stages import PARTITIONS, InProcessWorker
from schemas.codec import codec
from streams.account import accounts_view, record_of
from tests.checks import assert_money_conserved


def test_the_in_process_worker_trades_and_conserves_money():
    _, markets, traders = bench_markets("TEST", PARTITIONS)
    worker = InProcessWorker(markets, traders)
    worker.submit(funding(markets, traders, 10**15))
    worker.drain()
    flow = OrderFlow(worker.markets, worker.traders)
    for _ in range(6):
        worker.submit_encoded(worker.encoded(flow.batch(250)))
        worker.drain()
    assert worker.trades > 100 and worker.rows > 1500
    rows = {key.decode(): codec.decode_as(record_of(key.decode()), value)
            for partition in worker.store._partitions.values() for key, value in partition.items()}
    accounts = accounts_view(rows)
    assert len(accounts) == 80 + 1  # every trader, and the fee account
    assert_money_conserved(accounts)
    books = [stage.engines[market] for stage in worker.matching.values() for market in stage.engines]
    assert len(books) == 4 and all(engine.orders for engine in books)  # orders rest in every market
