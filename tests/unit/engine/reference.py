"""A deliberately simple model of the engine, to test the real one against.

One list of resting orders in arrival order, linear scans and sorts on
every command, quantities found by counting down, and fill-or-kill done by
trying on a deep copy. Slow and obviously right is the point: none of the
engine's data structures or shortcuts appear here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from streams.engine import (
    BUY,
    EXPIRE_BOTH,
    EXPIRE_MAKER,
    EXPIRE_TAKER,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    Accepted,
    Cancel,
    CancelAll,
    Done,
    LevelChanged,
    MarketSpec,
    Place,
    Rejected,
    Trade,
)


@dataclass
class Resting:
    order_id: int
    account: Any
    side: str
    price: int
    qty: int
    remaining: int
    filled_quote: int
    rank: int


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class ReferenceEngine:
    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.seq = 0
        self.book: list[Resting] = []  # arrival order
        self.events: list = []

    def handle(self, command) -> list:
        self.events = []
        if isinstance(command, Place):
            self.place(command)
        elif isinstance(command, Cancel):
            self.cancel(command)
        elif isinstance(command, CancelAll):
            self.cancel_all(command)
        else:
            self.emit(Rejected, None, None, "unknown_command", None)
        return self.events

    def emit(self, event_type, *fields) -> None:
        self.seq += 1
        self.events.append(event_type(self.seq, *fields))

    # -- place -----------------------------------------------------------

    def place(self, p: Place) -> None:
        reason = self.invalid(p)
        if reason is None and any(o.order_id == p.order_id for o in self.book):
            reason = "duplicate_order_id"
        if reason is None and p.post_only and self.crossing(p):
            reason = "post_only_would_trade"
        if reason is not None:
            self.emit(Rejected, p.order_id, p.account, reason, p.ts)
            return
        self.emit(
            Accepted, p.order_id, p.account, p.side, p.type, p.tif, p.price, p.qty, p.quote_limit, p.ts
        )
        rank = self.seq
        if p.tif == FOK:
            trial = copy.deepcopy(self)
            if trial.match(p)[0] == "complete":
                self.__dict__ = trial.__dict__
            else:
                self.emit(Done, p.order_id, p.account, "expired", 0, 0, p.qty, "fok", p.ts)
            return
        outcome, filled, quote, touched = self.match(p)
        if outcome == "no_liquidity" and p.tif == GTC:
            self.book.append(
                Resting(p.order_id, p.account, p.side, p.price, p.qty, p.qty - filled, quote, rank)
            )
            touched.append((p.side, p.price))
            self.report(touched)

    def invalid(self, p: Place) -> str | None:
        def is_int(x):
            return type(x) is int

        if not is_int(p.order_id):
            return "invalid_order_id"
        try:
            hash(p.account)
        except TypeError:
            return "invalid_account"
        if p.account is None:
            return "invalid_account"
        if p.side not in (BUY, SELL):
            return "invalid_side"
        if p.type not in (LIMIT, MARKET):
            return "invalid_type"
        if p.tif not in ((GTC, IOC, FOK) if p.type == LIMIT else (IOC, FOK)):
            return "invalid_time_in_force"
        if p.type == LIMIT:
            if not is_int(p.price) or p.price <= 0:
                return "invalid_price"
            if self.spec.max_price is not None and p.price > self.spec.max_price:
                return "invalid_price"
        elif p.price is not None:
            return "invalid_price"
        sized_by_funds = p.type == MARKET and p.side == BUY and p.quote_limit is not None
        if p.qty is None and not sized_by_funds:
            return "invalid_qty"
        if p.qty is not None and (not is_int(p.qty) or p.qty < self.spec.min_qty):
            return "invalid_qty"
        if p.quote_limit is not None:
            if p.type != MARKET or p.side != BUY:
                return "invalid_quote_limit"
            if not is_int(p.quote_limit) or p.quote_limit <= 0:
                return "invalid_quote_limit"
        if p.post_only is not False:
            if p.post_only is not True or p.type != LIMIT or p.tif != GTC:
                return "invalid_post_only"
        if p.stp not in (EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH):
            return "invalid_stp"
        if not is_int(p.ts) or p.ts < 0:
            return "invalid_timestamp"
        return None

    def crossing(self, p: Place) -> list[Resting]:
        """Live opposite orders within the taker's limit, in priority order."""

        def within(o: Resting) -> bool:
            if p.price is None:
                return True
            return o.price <= p.price if p.side == BUY else o.price >= p.price

        makers = [o for o in self.book if o.side != p.side and o.remaining > 0 and within(o)]
        if p.side == BUY:
            makers.sort(key=lambda o: (o.price, o.rank))
        else:
            makers.sort(key=lambda o: (-o.price, o.rank))
        return makers

    def match(self, p: Place) -> tuple[str, int, int, list]:
        """Take liquidity for ``p``, emitting events; returns how it ended."""
        unit = self.spec.quote_per_tick_step
        makers = self.crossing(p)
        funds = p.quote_limit
        wanted = p.qty if p.qty is not None else funds // unit
        filled = quote_sum = 0
        touched: list[tuple[str, int]] = []

        def touch(o: Resting) -> None:
            if (o.side, o.price) not in touched:
                touched.append((o.side, o.price))

        def cost(price: int, qty: int) -> int:
            quote = price * qty * unit
            return quote + ceil_div(quote * self.spec.taker_fee_ppm, 1_000_000)

        if not makers:
            outcome = "no_liquidity"
        elif wanted == 0:
            outcome = "no_funds"
        else:
            outcome = "no_liquidity"
            for maker in makers:
                if maker.account == p.account:
                    if p.stp == EXPIRE_TAKER:
                        outcome = "self_trade"
                        break
                    touch(maker)
                    self.finish(maker, "expired", "self_trade", p.ts)
                    if p.stp == EXPIRE_BOTH:
                        outcome = "self_trade"
                        break
                    continue
                fill = min(maker.remaining, wanted)
                out_of_funds = False
                if funds is not None:
                    while fill > 0 and cost(maker.price, fill) > funds:
                        fill -= 1
                        out_of_funds = True
                    funds -= cost(maker.price, fill)
                if out_of_funds:
                    outcome = "complete" if p.qty is None and filled + fill > 0 else "no_funds"
                if fill == 0:
                    break
                touch(maker)
                quote = maker.price * fill * unit
                self.emit(
                    Trade,
                    maker.price,
                    fill,
                    quote,
                    maker.order_id,
                    maker.account,
                    p.order_id,
                    p.account,
                    p.side,
                    ceil_div(quote * self.spec.maker_fee_ppm, 1_000_000),
                    ceil_div(quote * self.spec.taker_fee_ppm, 1_000_000),
                    p.ts,
                )
                maker.remaining -= fill
                maker.filled_quote += quote
                filled += fill
                quote_sum += quote
                wanted -= fill
                if maker.remaining == 0:
                    self.finish(maker, "filled", None, p.ts)
                if out_of_funds:
                    break
                if wanted == 0:
                    outcome = "complete"
                    break

        rests = outcome == "no_liquidity" and p.tif == GTC
        if not rests:
            remaining = None if p.qty is None else p.qty - filled
            if outcome == "complete":
                status, reason = "filled", None
            elif p.tif == FOK:
                status, reason = "expired", "fok"
            elif outcome == "self_trade":
                status, reason = "expired", "self_trade"
            elif outcome == "no_funds":
                status, reason = "expired", "quote_limit"
            elif p.type == MARKET:
                status, reason = "expired", "market"
            else:
                status, reason = "expired", "ioc"
            self.emit(Done, p.order_id, p.account, status, filled, quote_sum, remaining, reason, p.ts)
            self.report(touched)
        return outcome, filled, quote_sum, touched

    # -- cancel ----------------------------------------------------------

    def cancel(self, c: Cancel) -> None:
        if type(c.ts) is not int or c.ts < 0:
            self.emit(Rejected, c.order_id, c.account, "invalid_timestamp", c.ts)
            return
        mine = [o for o in self.book if o.order_id == c.order_id and o.account == c.account]
        if not mine:
            self.emit(Rejected, c.order_id, c.account, "unknown_order", c.ts)
            return
        self.finish(mine[0], "canceled", "user", c.ts)
        self.report([(mine[0].side, mine[0].price)])

    def cancel_all(self, c: CancelAll) -> None:
        if type(c.ts) is not int or c.ts < 0:
            self.emit(Rejected, None, c.account, "invalid_timestamp", c.ts)
            return
        touched: list[tuple[str, int]] = []
        for order in [o for o in self.book if o.account == c.account]:
            self.finish(order, "canceled", "user", c.ts)
            if (order.side, order.price) not in touched:
                touched.append((order.side, order.price))
        self.report(touched)

    # -- shared ----------------------------------------------------------

    def finish(self, order: Resting, status: str, reason: str | None, ts: int) -> None:
        self.emit(
            Done,
            order.order_id,
            order.account,
            status,
            order.qty - order.remaining,
            order.filled_quote,
            order.remaining,
            reason,
            ts,
        )
        order.remaining = 0
        self.book.remove(order)

    def report(self, touched: list[tuple[str, int]]) -> None:
        for side, price in touched:
            total = sum(o.remaining for o in self.book if o.side == side and o.price == price)
            self.emit(LevelChanged, side, price, total)

    def depth(self, side: str) -> list[tuple[int, int]]:
        prices = sorted({o.price for o in self.book if o.side == side}, reverse=side == BUY)
        return [
            (price, sum(o.remaining for o in self.book if o.side == side and o.price == price))
            for price in prices
        ]
