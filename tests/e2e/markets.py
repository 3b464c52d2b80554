"""Markets of a test's own, so no order another test left resting can meet its orders."""

from __future__ import annotations

import asyncio
import random
import secrets

from exchange.kafka_io import publish
from exchange.reference import make_asset, make_market
from schemas.topics import ASSETS, MARKETS


async def fresh_market(infra, maker_fee: str = "0", taker_fee: str = "0") -> dict:
    """A new base asset (6 decimals) against USDC, which new users hold; tick 0.01, step 0.01."""
    symbol = "W" + secrets.token_hex(3).upper()
    base = make_asset(symbol, 6, 0)
    await publish(infra, ASSETS, symbol, base)
    market = make_market(f"{symbol}_USDC", base, make_asset("USDC", 6, 0), tick="0.01", step="0.01",
                         maker_fee=maker_fee, taker_fee=taker_fee, partition=random.randrange(infra.partitions), ts=0)
    await publish(infra, MARKETS, market["symbol"], market)
    await asyncio.sleep(2)  # every process picks it up from the compacted topic
    return market
