"""One running exchange (worker, recorder, API, hub, mail catcher) for all the end-to-end tests of a
run, stopped once they are done: its worker and recorder join the consumer groups the integration
tests' workers join, and must not take partitions from them. Each test isolates itself with
accounts and markets of its own, as the integration tests do; a test that stops or kills a process
starts it again before it ends, and every module starts by checking that every process of the
stack is still alive."""

from __future__ import annotations

import asyncio

import pytest

from exchange.demo import define_demo_markets
from exchange.kafka_io import ensure_topics
from infra.local.ports import free_port

from .stack import Stack


@pytest.fixture(scope="package")
def shared_stack(infra, tmp_path_factory):
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


@pytest.fixture(scope="module")
def stack(shared_stack):
    """The run's stack, alive at the start of the module: a process an earlier module left dead
    fails here, naming the module, rather than somewhere in this one."""
    shared_stack.check_alive()
    return shared_stack
