"""The REST benchmark's order flow: what `--connections` traders send, and what came back.

Each connection is one trader placing limit orders for 0.1 SOL at 99.90 to 100.10 USDC, buy or
sell at random, so a good share cross the book on arrival (trades, fills, fees, ledger
entries) and the rest rest. About one request in twenty is a cancel-all of the trader's orders
in the market, so books stay the size a market maker keeps and orders end by cancel too. A
cancel-all needs no read of the read side, so the order path alone serves it the same way.

Every placement waits for the engine's outcome (201), or 202 after the API's 2 s wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from .load import Connection

MARKET = "SOL_USDC"
CANCEL_ALL_EVERY = 20  # requests, on average


@dataclass
class Outcome:
    placed: int = 0
    crossed: int = 0  # placements that traded on arrival (filled or partly filled at once)
    cancel_alls: int = 0
    latencies: list[float] = field(default_factory=list)  # placements only, seconds
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def latency_ms(self, quantile: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000 if ordered else float("nan")


async def run(port: int, tokens: list[str], seconds: float, seed: int = 1) -> Outcome:
    """Send the flow from one connection per token for `seconds`."""
    outcome = Outcome()
    stop = time.monotonic() + seconds
    cancel_all = f"/api/v1/orders?market={MARKET}"

    async def trader(index: int, token: str) -> None:
        rng = random.Random(seed * 1000 + index)
        connection = Connection("127.0.0.1", port)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            while time.monotonic() < stop:
                if rng.randrange(CANCEL_ALL_EVERY) == 0:
                    status, _ = await connection.request("DELETE", cancel_all, b"", headers)
                    outcome.cancel_alls += 1
                    outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
                    continue
                cents = rng.randint(9990, 10010)
                body = orjson.dumps({"market": MARKET, "side": rng.choice(("buy", "sell")),
                                     "price": f"{cents // 100}.{cents % 100:02d}", "quantity": "0.1"})
                started = time.perf_counter()
                status, payload = await connection.request("POST", "/api/v1/orders", body, headers)
                outcome.latencies.append(time.perf_counter() - started)
                outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
                outcome.placed += 1
                if status == 201 and Decimal(orjson.loads(payload).get("filled_quantity") or 0) > 0:
                    outcome.crossed += 1
        finally:
            await connection.close()

    started = time.monotonic()
    await asyncio.gather(*(trader(i, token) for i, token in enumerate(tokens)))
    outcome.elapsed = time.monotonic() - started
    return outcome
