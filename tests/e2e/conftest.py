"""One running exchange (worker, recorder, API) for the end-to-end tests of a module."""

from __future__ import annotations

import asyncio

import pytest

from exchange.demo import define_demo_markets
from exchange.kafka_io import ensure_topics
from infra.local.ports import free_port

from .stack import Stack


@pytest.fixture(scope="module")
def stack(infra, tmp_path_factory):
    async def prepare() -> None:
        await ensure_topics(infra)
        await define_demo_markets(infra)

    asyncio.run(prepare())
    smtp_port = free_port()  # a real SMTP server (the development catcher) takes the e-mail
    running = Stack(infra, tmp_path_factory.mktemp("stack"), free_port(), free_port(),
                    {"EXCHANGE_FAUCET": "on", "WS_CLIENT_BUFFER": "262144",
                     "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_SECURITY": "none",
                     # Tests place orders and read faster than bots may, all from one address.
                     "BINANCE_ORDERS_PER_10S": "10000", "BINANCE_WEIGHT_PER_MINUTE": "100000",
                     # Reads after writes are checked for what they see, not for how fast: on this
                     # shared 2-core machine a write's way to the read side once took over the 2 s
                     # default (`exchange bench reads` measures the wait: p99 100-200 ms).
                     "READ_WAIT_MS": "10000"})
    running.mail = running.logs / "mail"
    try:
        running.start("mail-catcher", "mail-catcher", "--dir", str(running.mail), "--port", str(smtp_port))
        running.start_all()
        yield running
    finally:
        running.stop_all()  # also when start-up failed: no process outlives the tests
