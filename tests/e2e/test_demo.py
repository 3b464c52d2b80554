"""`exchange demo` against a running exchange, watched as a newcomer would (over WS and REST), and
what an operator sees of the same run: metrics for the dashboard and JSON logs."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest

from streams.metrics import LAG_EVERY

from .stack import REPO
from .test_api import new_user
from .test_ws import call, collect, connect

pytestmark = pytest.mark.timeout(300)

MARKET = "ETH_USDT"  # no other end-to-end test trades it


async def test_the_demo_bot_makes_trades_and_takes_its_quotes_away_when_stopped(stack):
    ws = await connect(stack)
    await call(ws, "SUBSCRIBE", [f"trades@{MARKET}", f"depth@{MARKET}"], 1)
    bot = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "demo", "--api", stack.base_url, "--markets", MARKET,
         "--interval", "0.3", "--seed", "7", "--account-prefix", f"bot-{secrets.token_hex(4)}"],
        env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        try:
            frames = await collect(ws, lambda got: sum(f.get("stream") == f"trades@{MARKET}" for f in got) >= 3, 90)
        except AssertionError:
            bot.kill()
            raise AssertionError(f"no trades over WS; the bot said: {bot.communicate()[0].decode()}") from None
        depth = [f["data"] for f in frames if f.get("stream") == f"depth@{MARKET}"]
        assert any(d["b"] for d in depth) and any(d["a"] for d in depth), "the makers quote both sides"
        bot.send_signal(signal.SIGTERM)  # as a process manager stops it
        output, _ = await asyncio.to_thread(bot.communicate, timeout=60)
    finally:
        bot.kill() if bot.poll() is None else None
        await ws.close()
    assert bot.returncode == 0, output.decode()
    assert b"making markets in ETH_USDT" in output

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
        trades = (await http.get("/api/v1/trades", params={"market": MARKET})).json()["items"]
        assert trades, "the recorder has the bot's trades"
        prices = [Decimal(t["price"]) for t in trades]
        assert all(Decimal(1500) <= p <= Decimal(4500) for p in prices), "the walk stays near its start"
        deadline = time.monotonic() + 30
        while True:  # the bot canceled its ladders on the way out
            book = (await http.get("/api/v1/depth", params={"market": MARKET})).json()
            if not book["bids"] and not book["asks"]:
                break
            assert time.monotonic() < deadline, f"quotes left resting: {book}"
            await asyncio.sleep(0.5)


def exported_names(text: str) -> set[str]:
    """Metric names a Prometheus text exposition offers: its samples, and the series its TYPE lines
    declare (a labelled metric that saw nothing yet has only those)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            names |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_every_process_serves_the_metrics_the_dashboard_draws(stack):
    """Run after the demo test in this module: the bot's orders moved the counters."""
    deadline = time.monotonic() + 4 * LAG_EVERY
    while True:  # the lag gauge is first set one measuring interval after the worker is ready
        texts = {name: httpx.get(url, timeout=10).text for name, url in stack.metrics_urls.items()}
        worker = texts["worker"]
        if "exchange_consumer_lag_messages{" in worker or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sample(worker, "exchange_trades_total", market=MARKET) > 0
    assert sample(worker, "exchange_commands_total") > 0
    assert sample(worker, "exchange_command_age_seconds_count") > 0
    assert sample(worker, "faust_total_events_total") > 0  # what the dashboard's events panel draws
    assert sample(texts["recorder"], "exchange_recorder_rows_total") > 0
    assert sample(texts["api"], "exchange_api_requests_total", route="/api/v1/orders", status="201") > 0
    assert any(line.startswith("exchange_consumer_lag_messages{") and 'topic="exchange.commands"' in line
               for line in worker.splitlines()), "lag is measured per input partition"

    exported = set().union(*(exported_names(text) for text in texts.values()))
    dashboard = json.loads((REPO / "infra" / "grafana" / "dashboards" / "exchange.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\b(?:exchange|faust)_[a-z_]+", target["expr"])}
    assert used and used <= exported, f"drawn but served by no process: {sorted(used - exported)}"
    alerts = (REPO / "infra" / "prometheus" / "alerts.yml").read_text()
    watched = set(re.findall(r"\b(?:exchange|faust)_[a-z_]+", alerts)) - {"exchange_"}
    assert watched and watched <= exported, f"alerted on but served by no process: {sorted(watched - exported)}"


def test_logs_are_json_lines_that_name_the_order(stack):
    lines = [json.loads(line) for line in (stack.logs / "api.log").read_text().splitlines() if line.startswith("{")]
    placed = [entry for entry in lines if entry["message"] == "order placed"]
    assert placed and all(entry["order_id"] and entry["account"] and entry["process"] == "api" for entry in placed)
    worker = (stack.logs / "worker.log").read_text().splitlines()
    ready = [json.loads(line) for line in worker if "[^Worker]: Ready" in line]
    assert ready and ready[0]["process"] == "worker-e2e" and ready[0]["level"] == "info"


def test_exchange_logs_shows_one_orders_trail_across_the_api_and_the_worker(stack):
    _, auth = new_user(stack, "loggy")
    refused = httpx.post(f"{stack.base_url}/api/v1/orders", headers=auth, timeout=30, json={
        "market": "SOL_USDC", "side": "sell", "price": "1.07", "quantity": "100000"})  # more SOL than it has
    assert refused.status_code == 201 and refused.json()["reject_reason"] == "insufficient_funds", refused.text
    order_id = refused.json()["order_id"]
    wanted = {("api", "order placed"), ("worker-e2e", "command refused")}
    deadline = time.monotonic() + 15
    while True:  # the worker may write its line a moment after the API has the outcome
        trail = subprocess.run([sys.executable, "-m", "exchange.cli", "logs", "--dir", str(stack.logs), "--order",
                                order_id, "--json"], env=stack.env, capture_output=True, text=True, timeout=60)
        assert trail.returncode == 0, trail.stderr
        entries = [json.loads(text) for text in trail.stdout.splitlines()]
        if {(e["process"], e["message"]) for e in entries} == wanted or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {(e["process"], e["message"]) for e in entries} == wanted
    assert [e["ts"] for e in entries] == sorted(e["ts"] for e in entries)
