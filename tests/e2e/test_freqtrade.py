"""Freqtrade trading live against the exchange with the config docs/binance-api.md gives, word for
word but the key: five minutes (FREQTRADE_SECONDS), its websocket mode on as by default, a
market-making bot on the other side. Nothing in its log is an error or a warning, and its orders
are the exchange's.

Freqtrade has its own pinned dependencies, which clash with the exchange's, so it lives in a venv
of its own: `make test-freqtrade` makes it and runs this with EXCHANGE_TEST_FREQTRADE pointing at
its `freqtrade`. `make test` skips it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.flow import REPO

from .binance_clients import trader
from .test_api import fund
from .test_binance_rest import signed_request

FREQTRADE = os.environ.get("EXCHANGE_TEST_FREQTRADE", "")
SECONDS = float(os.environ.get("FREQTRADE_SECONDS", "300"))
STATUS = {"closed": "FILLED", "canceled": "CANCELED", "open": "NEW"}

pytestmark = [pytest.mark.skipif(not FREQTRADE, reason="make test-freqtrade runs it (Freqtrade in a venv of its own)"),
              pytest.mark.timeout(SECONDS + 600)]


def documented_config() -> dict:
    page = (REPO / "docs" / "binance-api.md").read_text()
    return json.loads(page.split("**Freqtrade**", 1)[1].split("```json", 1)[1].split("```", 1)[0])


def local(config, base_url: str, hub_url: str):
    """The page's config for this stack's ports (the page shows the default 8080 and 8081)."""
    text = json.dumps(config).replace("http://127.0.0.1:8080", base_url).replace("ws://127.0.0.1:8081", hub_url)
    return json.loads(text)


def test_freqtrade_trades_live_without_an_error_and_its_orders_are_the_exchanges(stack, tmp_path):
    user = trader(stack.base_url, "freqtrade")
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        fund(http, user["auth"], "USDC", "1000")
    config = local(documented_config(), stack.base_url, stack.ws_url.removesuffix("/ws"))
    config["exchange"] |= {"key": user["key"], "secret": user["secret"]}
    config |= {"db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}", "user_data_dir": str(tmp_path / "user_data")}
    (tmp_path / "config.json").write_text(json.dumps(config))
    strategies = tmp_path / "user_data" / "strategies"
    strategies.mkdir(parents=True)
    (strategies / "flip.py").write_text((Path(__file__).parent / "freqtrade" / "flip.py").read_text())
    log = tmp_path / "freqtrade.log"  # what it prints: its log lines

    stack.start("demo", "demo", "--markets", "SOL_USDC", "--interval", "2")
    # A market with a closed candle, as bots expect: Freqtrade drops the open one and warns of an
    # empty history until a minute has passed.
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        deadline = time.monotonic() + 180
        while len(http.get("/api/v3/klines", params={"symbol": "SOLUSDC", "interval": "1m"}).json()) < 2:
            assert time.monotonic() < deadline, "the demo bot traded in fewer than two minutes in 180 s"
            time.sleep(2)
    output = open(log, "wb")
    bot = subprocess.Popen([FREQTRADE, "trade", "-c", str(tmp_path / "config.json"), "--strategy", "Flip"],
                           cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "400"})
    try:
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            assert bot.poll() is None, log.read_text()[-5000:]
            time.sleep(5)
    finally:
        bot.send_signal(signal.SIGINT)
        try:
            bot.wait(timeout=60)
        except subprocess.TimeoutExpired:
            bot.kill()
        stack.stop("demo")

    output.close()
    lines = log.read_text().splitlines()
    assert any("exchange_ws" in line for line in lines), "its websocket mode did not run"
    troubles = [line for line in lines if " - ERROR - " in line or " - WARNING - " in line
                or " - CRITICAL - " in line]
    assert not troubles, "\n".join(troubles[:20])
    database = sqlite3.connect(tmp_path / "trades.sqlite")
    mine = {int(order_id): (STATUS.get(status, status), filled or 0.0) for order_id, status, filled in
            database.execute("SELECT order_id, status, filled FROM orders")}
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        theirs = signed_request(http, "GET", "/api/v3/allOrders", user, {"symbol": "SOLUSDC", "limit": 1000}).json()
    print(f"\nFreqtrade: {len(mine)} orders in {SECONDS:.0f} s, {len(lines)} log lines, none an error or a warning",
          file=sys.stderr)
    assert len(mine) >= 4, f"Freqtrade placed {len(mine)} orders in {SECONDS:.0f} s"
    assert mine == {o["orderId"]: (o["status"], float(o["executedQty"])) for o in theirs}
