"""The demo assets and markets that `make run` and the end-to-end tests start with."""

from __future__ import annotations

from exchange.config import Settings
from exchange.kafka_io import publish, read_compacted
from exchange.reference import default_partition, make_asset, make_market
from schemas.topics import ASSETS, MARKETS

# symbol -> decimals. ETH keeps 9 (gwei): 18 would not let 10 ETH fit an Avro long in atoms.
DEMO_ASSETS = {"USDC": 6, "USDT": 6, "SOL": 9, "BTC": 8, "ETH": 9}
# symbol -> (base, quote, tick, step, min notional)
DEMO_MARKETS = {
    "SOL_USDC": ("SOL", "USDC", "0.01", "0.001", "1"),
    "BTC_USDT": ("BTC", "USDT", "0.1", "0.00001", "1"),
    "ETH_USDT": ("ETH", "USDT", "0.01", "0.0001", "1"),
}


async def define_demo_markets(settings: Settings, ts: int = 0) -> list[str]:
    """Publish whatever demo asset or market is missing; the symbols created."""
    created = []
    assets = await read_compacted(settings, ASSETS)
    for symbol, decimals in DEMO_ASSETS.items():
        if symbol not in assets:
            assets[symbol] = make_asset(symbol, decimals, ts)
            await publish(settings, ASSETS, symbol, assets[symbol])
            created.append(symbol)
    markets = await read_compacted(settings, MARKETS)
    for symbol, (base, quote, tick, step, min_notional) in DEMO_MARKETS.items():
        if symbol not in markets:
            market = make_market(symbol, assets[base], assets[quote], tick=tick, step=step, min_notional=min_notional,
                                 maker_fee="0.001", taker_fee="0.002",
                                 partition=default_partition(symbol, settings.partitions), ts=ts)
            await publish(settings, MARKETS, symbol, market)
            created.append(symbol)
    return created
