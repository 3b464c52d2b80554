"""Replay an operations file (see gen_ops.py) through one market's engine.

All commands are built before the clock starts, so only the engine is
timed. Prints the throughput, what the replay did, and the memory a
resting order costs.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import orjson

from bench.gen_ops import OpGenerator
from streams.engine import EXPIRE_TAKER, Cancel, Command, Engine, MarketSpec, Place, Trade

SPEC = MarketSpec("BENCH-USD")  # zero fees, one quote atom per tick and step


def load_commands(path: str) -> list[Command]:
    with open(path, "rb") as ops:
        lines = ops.read().splitlines()
    commands: list[Command] = []
    accounts: dict[int, object] = {}  # order id -> account, for cancels
    for ts, line in enumerate(lines):
        op = orjson.loads(line)
        if op["op"] == "cancel":
            # An id never placed gets an account no order has: unknown_order.
            commands.append(Cancel(op["id"], accounts.get(op["id"]), ts))
            continue
        accounts[op["id"]] = op["account"]
        commands.append(place_command(op, ts))
    return commands


def place_command(op: dict, ts: int) -> Place:
    return Place(
        op["id"],
        op["account"],
        op["side"],
        op["type"],
        op["tif"],
        op.get("price"),
        op["qty"],
        ts,
        op["post_only"],
        None,
        EXPIRE_TAKER,
    )


def replay(commands: list[Command]) -> tuple[Engine, float]:
    engine = Engine(SPEC)
    handle = engine.handle
    gc.collect()
    start = time.perf_counter()
    for command in commands:
        handle(command)
    return engine, time.perf_counter() - start


def count_trades(commands: list[Command]) -> tuple[int, int]:
    """Trades and traded quantity, from an untimed second replay."""
    engine = Engine(SPEC)
    trades = traded_qty = 0
    for command in commands:
        for event in engine.handle(command):
            if type(event) is Trade:
                trades += 1
                traded_qty += event.qty
    return trades, traded_qty


def bytes_per_resting_order(n: int) -> tuple[float, int]:
    """Traced heap growth of a fresh engine fed ``n`` passive orders, per resting order.

    The orders come from gen_ops' passive mix and arrive as decoded JSON
    lines, as in production, so the ints the engine keeps are its own
    allocations and are counted; the book's dicts, lists and levels are too.
    """
    generator = OpGenerator(seed=0)
    lines = [orjson.dumps(generator.passive()) for _ in range(n)]
    gc.collect()
    tracemalloc.start()
    engine = Engine(SPEC)
    for ts, line in enumerate(lines):
        engine.handle(place_command(orjson.loads(line), ts))
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return grown / len(engine.orders), len(engine.orders)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-matching", description=__doc__.splitlines()[0])
    parser.add_argument("--ops", required=True, help="JSON lines written by gen-ops")
    parser.add_argument(
        "--memory-orders",
        type=int,
        default=100_000,
        help="resting orders in the engine whose memory is measured",
    )
    args = parser.parse_args(argv)

    commands = load_commands(args.ops)
    engine, seconds = replay(commands)
    trades, traded_qty = count_trades(commands)
    print(f"commands/s={len(commands) / seconds:.0f} ({len(commands)} commands in {seconds:.3f} s)")
    print(f"trades={trades}")
    print(f"traded_qty={traded_qty}")
    print(f"resting={len(engine.orders)}")
    per_order, resting = bytes_per_resting_order(args.memory_orders)
    print(
        f"bytes_per_resting_order={per_order:.0f} "
        f"(tracemalloc: heap growth of a fresh engine holding {resting} passive orders)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
