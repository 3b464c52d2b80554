"""Generate a realistic, reproducible stream of order operations as JSON lines.

The mix: about 55% passive limit orders near the top of the book, 35%
cancels of live orders, and 10% aggressive orders (IOC, FOK and market)
crossing several levels; 200 accounts; a mid price that wanders. The same
seed gives the same stream.

To cancel live orders and to keep passive orders passive, the generator
keeps a rough model of the book (``Shadow``). It is independent of the
engine, so the stream stays fixed while the engine changes; it ignores
self-trade prevention and FOK failures, so a few cancels still miss, as
they do in real streams.
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from typing import IO

import orjson

ACCOUNTS = 200
START_MID = 10_000


class Shadow:
    """Which order ids probably rest, at what price, best first per side."""

    def __init__(self) -> None:
        self.qty: dict[int, int] = {}
        self.ids: list[int] = []  # the same ids, for uniform random choice
        self.index: dict[int, int] = {}  # id -> position in ids
        # (key, id) heaps with bid keys negated; entries of ids no longer
        # live are skipped when they surface.
        self.heaps: dict[str, list[tuple[int, int]]] = {"buy": [], "sell": []}

    def add(self, order_id: int, side: str, price: int, qty: int) -> None:
        self.qty[order_id] = qty
        self.index[order_id] = len(self.ids)
        self.ids.append(order_id)
        heapq.heappush(self.heaps[side], (-price if side == "buy" else price, order_id))

    def remove(self, order_id: int) -> None:
        del self.qty[order_id]
        index = self.index.pop(order_id)
        last = self.ids.pop()
        if last != order_id:
            self.ids[index] = last
            self.index[last] = index

    def best(self, side: str) -> int | None:
        heap = self.heaps[side]
        while heap and heap[0][1] not in self.qty:
            heapq.heappop(heap)
        if not heap:
            return None
        return -heap[0][0] if side == "buy" else heap[0][0]

    def take(self, side: str, limit: int | None, qty: int) -> None:
        """Consume resting ``side`` orders as a taker of ``qty`` would."""
        heap = self.heaps[side]
        while qty:
            best = self.best(side)
            if best is None or (limit is not None and (best < limit if side == "buy" else best > limit)):
                return
            order_id = heap[0][1]
            fill = min(qty, self.qty[order_id])
            qty -= fill
            self.qty[order_id] -= fill
            if not self.qty[order_id]:
                self.remove(order_id)


class OpGenerator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.mid = START_MID
        self.next_id = 1
        self.book = Shadow()

    def op(self) -> dict:
        rng = self.rng
        if rng.random() < 0.1:
            self.mid = max(1_000, self.mid + rng.choice((-1, 1)))
        roll = rng.random()
        if roll < 0.35 and self.book.ids:
            return self.cancel()
        if roll < 0.90:
            return self.passive()
        return self.aggressive()

    def cancel(self) -> dict:
        order_id = self.rng.choice(self.book.ids)
        self.book.remove(order_id)
        return {"op": "cancel", "id": order_id}

    def passive(self) -> dict:
        rng = self.rng
        side = rng.choice(("buy", "sell"))
        # Most orders sit within a few ticks of the top, some further out,
        # and never on the other side of the book.
        distance = 1 + min(rng.randrange(40), rng.randrange(40))
        if side == "buy":
            best_ask = self.book.best("sell")
            price = self.mid - distance if best_ask is None else min(self.mid, best_ask) - distance
        else:
            best_bid = self.book.best("buy")
            price = self.mid + distance if best_bid is None else max(self.mid, best_bid) + distance
        order = self.place(side, "limit", "GTC", price, rng.randint(1, 100))
        order["post_only"] = rng.random() < 0.1
        self.book.add(order["id"], side, price, order["qty"])
        return order

    def aggressive(self) -> dict:
        rng = self.rng
        side = rng.choice(("buy", "sell"))
        opposite = "sell" if side == "buy" else "buy"
        qty = rng.randint(20, 200)
        kind = rng.random()
        if kind < 0.4:
            self.book.take(opposite, None, qty)
            return self.place(side, "market", "IOC", None, qty)
        best = self.book.best(opposite)
        reach = rng.randint(1, 5)
        if best is None:
            price = self.mid + reach if side == "buy" else self.mid - reach
        else:
            price = best + reach if side == "buy" else best - reach
        self.book.take(opposite, price, qty)
        return self.place(side, "limit", "IOC" if kind < 0.8 else "FOK", price, qty)

    def place(self, side: str, type_: str, tif: str, price: int | None, qty: int) -> dict:
        order = {
            "op": "place",
            "id": self.next_id,
            "account": self.rng.randint(1, ACCOUNTS),
            "side": side,
            "type": type_,
            "tif": tif,
            "post_only": False,
            "qty": qty,
        }
        if price is not None:
            order["price"] = price
        self.next_id += 1
        return order


def write_ops(n: int, seed: int, out: IO[bytes]) -> None:
    generator = OpGenerator(seed)
    for _ in range(n):
        out.write(orjson.dumps(generator.op(), option=orjson.OPT_APPEND_NEWLINE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gen-ops", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of operations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="output file (default: stdout)")
    args = parser.parse_args(argv)
    if args.out is None:
        write_ops(args.n, args.seed, sys.stdout.buffer)
    else:
        with open(args.out, "wb") as out:
            write_ops(args.n, args.seed, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
