"""`exchange bench api`: what the exchange takes through one REST API process, in three phases.

1. **ceiling**: a bare Starlette route, loaded the same way (http_ceiling.py): what the web
   framework alone allows;
2. **order path**: a worker and the API, no recorder: what placing and matching cost;
3. **full stack**: a worker, the recorder and the API: what a user who runs the whole exchange
   gets, the read side (recorder and Cassandra) included.

Phases 2 and 3 run on one fresh Kafka and Cassandra (api_stack.py), warmed up first by an
unreported run of the whole exchange. Each phase starts its own processes, signs up one trader
per connection (credited demo balances, as in development), warms up, waits until every
consumer group is caught up, then measures the same order flow (order_load.py) from the same
number of connections. For each phase it prints
orders/s, latency p50/p99, CPU per order of every process, Kafka records and Cassandra rows per
order, and how long after the load stopped every consumer group had committed all of its input;
then one line of ratios.

With `--baseline DIR` (a checkout of another version, e.g. `git worktree add DIR <commit>`),
phases 2 and 3 run for both versions, alternating, `--rounds` times each, each version on
servers of its own, and the summary compares medians side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import http_ceiling, order_load
from .api_stack import ROOT, Sample, Servers, Stack, counter

CEILING_SECONDS = 5.0
WARM_UP_SECONDS = 3.0  # before each phase's measured window
SERVER_WARM_UP_SECONDS = 30.0  # once per set of servers: their JIT compiles the hot paths
PROCESSES = ("api", "worker", "recorder", "kafka", "cassandra", "load client")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=64, help="concurrent HTTP clients, one trader each")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured phase")
    parser.add_argument("--phases", default="ceiling,order-path,full",
                        help="which phases to run, comma-separated (default: all three)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout to measure side by side with this one")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each phase (medians are reported)")
    args = parser.parse_args(argv)
    return asyncio.run(_run(args))


@dataclass
class Result:
    code: str
    phase: str
    orders_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms: dict[str, float]  # CPU per order, by process
    kafka_records: float  # per order
    cassandra_rows: float | None  # per order
    cassandra_requests: float | None  # statements and batches per order
    trades: float  # per order
    crossed: float  # share of orders that traded on arrival
    caught_up_s: float
    statuses: dict[int, int]  # HTTP statuses of every request, cancel-alls included
    cancel_alls: int

    @property
    def read_side_ms(self) -> float:
        return self.cpu_ms.get("recorder", 0.0) + self.cpu_ms.get("cassandra", 0.0)


async def _run(args: argparse.Namespace) -> int:
    phases = args.phases.split(",")
    unknown = set(phases) - {"ceiling", "order-path", "full"}
    if unknown:
        raise SystemExit(f"unknown phases: {', '.join(sorted(unknown))}")
    codes = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    if "ceiling" in phases:
        print("ceiling: " + await http_ceiling.measure(CEILING_SECONDS, args.connections), flush=True)
    measured = [p for p in ("order-path", "full") if p in phases]
    results: list[Result] = []
    async with AsyncExitStack() as stack:
        servers = {code: await stack.enter_async_context(Servers()) for code in codes}
        for code, tree in codes.items():
            print(f"{code}: warming up the servers with {SERVER_WARM_UP_SECONDS:g} s of the whole exchange "
                  f"(not reported; logs under {servers[code].state})", flush=True)
            await _phase(servers[code], code, tree, "full", args, SERVER_WARM_UP_SECONDS)
        for round_ in range(args.rounds):
            for phase in measured:
                for code, tree in codes.items():
                    result = await _phase(servers[code], code, tree, phase, args, args.seconds)
                    print(describe(result, f"round {round_ + 1}"), flush=True)
                    results.append(result)
    print(summary(results, codes), flush=True)
    return 0


async def _phase(servers: Servers, code: str, tree: Path, phase: str, args: argparse.Namespace,
                 seconds: float) -> Result:
    async with Stack(servers, tree, recorder=phase == "full") as stack:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.port}", timeout=30) as http:
            await stack.ready(http)
            tokens = await _traders(http, args.connections)
            await order_load.run(stack.port, tokens, WARM_UP_SECONDS, seed=2)
            await stack.caught_up()
            before = await stack.sample(http)
            outcome = await order_load.run(stack.port, tokens, seconds)
            after = await stack.sample(http)
            caught_up = await stack.caught_up()
    return _result(code, phase, outcome, before, after, caught_up)


def _result(code: str, phase: str, outcome: order_load.Outcome, before: Sample, after: Sample,
            caught_up: float) -> Result:
    orders = max(outcome.placed, 1)
    cpu = {name: (after.cpu.processes[name] - before.cpu.processes[name]) * 1000 / orders
           for name in after.cpu.processes}

    def per_order(process: str, name: str, labels: dict | None = None) -> float | None:
        if process not in after.metrics:
            return None
        old, new = counter(before.metrics[process], name, labels), counter(after.metrics[process], name, labels)
        return None if new is None else (new - (old or 0.0)) / orders

    return Result(code, phase, outcome.placed / outcome.elapsed, outcome.latency_ms(0.5), outcome.latency_ms(0.99),
                  cpu, (after.kafka_records - before.kafka_records) / orders,
                  per_order("recorder", "exchange_recorder_rows_total"),
                  per_order("recorder", "exchange_recorder_requests_total"),
                  per_order("worker", "exchange_trades_total") or 0.0, outcome.crossed / orders, caught_up,
                  dict(sorted(outcome.statuses.items())), outcome.cancel_alls)


def describe(r: Result, where: str) -> str:
    cpu = ", ".join(f"{name} {r.cpu_ms[name]:.3f}" for name in PROCESSES if name in r.cpu_ms)
    rows = ("" if r.cassandra_rows is None else
            f"; Cassandra {r.cassandra_rows:.2f} rows" +
            ("" if r.cassandra_requests is None else f" in {r.cassandra_requests:.2f} requests") + " per order")
    return (f"{r.phase} ({r.code}, {where}): {r.orders_per_s:,.0f} orders/s, p50 {r.p50_ms:.0f} ms, "
            f"p99 {r.p99_ms:.0f} ms; {r.crossed:.0%} crossed on arrival, {r.trades:.2f} trades per order; "
            f"{r.cancel_alls:,} cancel-alls; statuses {r.statuses}\n"
            f"  CPU ms per order: {cpu}; read side {r.read_side_ms:.3f}\n"
            f"  Kafka {r.kafka_records:.2f} records per order{rows}; "
            f"every group caught up {r.caught_up_s:.1f} s after the load stopped")


def summary(results: list[Result], codes: dict[str, Path]) -> str:
    """Medians per version and phase: a table of CPU per order, then one line of ratios per version."""
    def median(code: str, phase: str, value) -> float | None:
        values = [v for r in results if r.code == code and r.phase == phase and (v := value(r)) is not None]
        return statistics.median(values) if values else None

    runs = [(code, phase) for code in codes for phase in ("order-path", "full")
            if any(r.code == code and r.phase == phase for r in results)]
    lines = ["medians: " + " | ".join(f"{phase} ({code})" for code, phase in runs)]
    rows = [("orders/s", lambda r: r.orders_per_s, "{:,.0f}"), ("p99 ms", lambda r: r.p99_ms, "{:.0f}"),
            *((f"CPU ms per order, {name}", lambda r, n=name: r.cpu_ms.get(n), "{:.3f}") for name in PROCESSES),
            ("read side CPU ms per order", lambda r: r.read_side_ms, "{:.3f}"),
            ("Kafka records per order", lambda r: r.kafka_records, "{:.2f}"),
            ("Cassandra rows per order", lambda r: r.cassandra_rows, "{:.2f}"),
            ("Cassandra requests per order", lambda r: r.cassandra_requests, "{:.3f}"),
            ("caught up after the load, s", lambda r: r.caught_up_s, "{:.1f}")]
    for title, value, form in rows:
        cells = [median(code, phase, value) for code, phase in runs]
        if any(c is not None for c in cells):
            lines.append(f"  {title}: " + " | ".join("-" if c is None else form.format(c) for c in cells))
    for code in codes:
        path = median(code, "order-path", lambda r: r.orders_per_s)
        full = median(code, "full", lambda r: r.orders_per_s)
        read = median(code, "full", lambda r: r.read_side_ms)
        parts = [f"order path {path:,.0f} orders/s" if path else None,
                 f"full stack {full:,.0f} orders/s" if full else None,
                 f"full / order path {full / path:.2f}x" if path and full else None,
                 f"read side {read:.3f} ms CPU per order" if read is not None else None]
        count = max(sum(r.code == code and r.phase == phase for r in results) for phase in ("order-path", "full"))
        lines.append(f"summary ({code}, medians of {count} runs): " + "; ".join(p for p in parts if p))
    if "baseline" in codes:
        for phase in ("order-path", "full"):
            new = median("this", phase, lambda r: r.orders_per_s)
            old = median("baseline", phase, lambda r: r.orders_per_s)
            if new and old:
                lines.append(f"this / baseline, {phase}: {new / old:.2f}x orders/s")
    return "\n".join(lines)


async def _traders(http: httpx.AsyncClient, n: int) -> list[str]:
    tokens = []
    for i in range(n):
        email = f"bench-{time.time_ns()}-{i}@example.com"
        await http.post("/api/v1/auth/signup", json={"username": f"bench{i}", "email": email, "password": "benchmark"})
        login = await http.post("/api/v1/auth/login", json={"email": email, "password": "benchmark"})
        tokens.append(login.json()["token"])
    return tokens
