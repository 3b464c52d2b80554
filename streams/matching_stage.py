"""The matching stage: runs one engine per market of a partition and says what its events mean.

Input: `exchange.MarketCommandBatch` messages of one `exchange.orders` partition, taken several
at a time by the worker. Output per market per take: trades, order updates and depth changes
(keyed by market), settlements (keyed by account), refused cancels, and a reply per API process
waiting for some of them (exchange.replies). Pure: engines are rebuilt
from a `BookJournal` over the stage's table, and the worker sends the outputs, waits until Kafka
has them, and only then writes the journal rows that commit the take. A crash in between replays the input
from the journal's rolled-back state, producing the same events with the same sequence numbers
(perhaps in other messages, if the replay takes the input in other groups), which every consumer
recognises as duplicates.

A batch from a (source partition, source offset) that the market already applied is skipped:
the accounts stage re-sends a batch after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, cast

from schemas.records import CancelOrder, Command, MarketCommandBatch, PlaceOrder
from schemas.topics import (
    COMMAND_RESULTS,
    DEPTH,
    FEE_ACCOUNT,
    ORDER_UPDATES,
    REPLIES,
    SETTLEMENTS,
    TRADES,
    account_partition,
    reply_partition,
)
from schemas.vocabulary import CANCEL, CANCELED, EXPIRED, FILLED, NEW, PARTIALLY_FILLED, PLACE, REJECTED, result_kind
from streams.engine import (
    Accepted,
    Cancel,
    CancelAll,
    Done,
    Engine,
    LevelChanged,
    MarketState,
    OrderRow,
    Place,
    Rejected,
    Trade,
)

from .book_journal import BookJournal
from .outputs import OUTPUTS_FIRST, Decided, Outgoing, StageResult

# A market's whole book follows its depth change this often (and on its first change after a
# restore), so a reader that lost updates (the topic's retention ran out under it, or its own
# store was wiped) is whole again within a minute of trading, without asking anyone.
FULL_DEPTH_EVERY_MS = 60_000
STATUS = {"filled": FILLED, "canceled": CANCELED, "expired": EXPIRED}  # the engine's Done.status
OPPOSITE = {"buy": "sell", "sell": "buy"}


@dataclass
class PendingCommit:
    """What the journal writes once the batch's outputs are safely on Kafka."""

    market: str
    seq: int
    watermarks: dict[str, int]
    changed: dict[int, OrderRow | None]


class MatchingStage:
    """Matches the takes of one exchange.orders partition (see batch.py)."""

    order = OUTPUTS_FIRST
    refusals = (KeyError,)

    def __init__(self, journal: BookJournal, markets: Mapping[str, dict], specs, partitions: int) -> None:
        self.journal = journal
        self.markets = markets
        self.specs = specs  # market record -> engine MarketSpec
        self.partitions = partitions
        self.engines: dict[str, Engine] = {}
        self.watermarks: dict[str, dict[str, int]] = {}
        self.full_depth_due: dict[str, int] = {}  # market -> when its next full book is sent (ms)
        self.begin(0)

    def restore(self, symbols: list[str]) -> None:
        """Rebuild the engines of these markets from the table (once per partition assignment)."""
        for market, state in self.journal.restore(symbols).items():
            spec = self.specs(self.markets[market])
            self.engines[market] = Engine.restore(spec, state.rows, MarketState(market, state.seq))
            self.watermarks[market] = state.watermarks
            self.full_depth_due[market] = 0

    def engine(self, market: str) -> Engine:
        if market not in self.engines:
            self.restore([market])
        return self.engines[market]

    def begin(self, now_ms: int) -> None:
        """Start a take: its messages are applied to the engines as they are decided, and its
        outputs are shared per market (see `_Take`)."""
        self.now_ms = now_ms
        self._take = _Take(self)
        self._partition: int | None = None

    def decide(self, message, record: MarketCommandBatch) -> None:
        """One exchange.MarketCommandBatch (KeyError, changing nothing, if its market is unknown)."""
        self._take.add(record)
        self._partition = message.partition

    def end(self) -> Decided:
        """The take's outputs, and the journal rows that commit it once they are on Kafka."""
        result, commits = self._take.finish(self.now_ms)
        rows = {} if self._partition is None else {self._partition: self.commit_all(commits)}
        return Decided(rows, result.messages)

    def commit(self, pending: PendingCommit) -> dict[str, dict | None]:
        """The table writes (None: delete) that commit the batch, in order."""
        return self.journal.commit(pending.market, pending.seq, pending.watermarks, pending.changed)

    def commit_all(self, pending: Iterable[PendingCommit]) -> dict[str, dict | None]:
        """The writes of several markets' commits (one per market), each market's in order."""
        writes: dict[str, dict | None] = {}
        for commit in pending:
            writes.update(self.commit(commit))
        return writes


class _Take:
    """The messages of one take, applied to the engines as they are added.

    The outputs' cost is per message sent, so a take's messages for a market share them: one
    trade batch, one order update batch, one depth change and one settlement message per
    account partition, whatever the number of input messages (about three a take under load).
    """

    def __init__(self, stage: MatchingStage) -> None:
        self.stage = stage
        self.outputs: dict[str, _Outputs] = {}  # per market, in the order first met

    def add(self, batch: MarketCommandBatch) -> None:
        """Apply one exchange.MarketCommandBatch. Raises KeyError, changing nothing, if its
        market is unknown; a batch its market already applied (re-sent after a crash) is skipped."""
        stage, market = self.stage, batch["market"]
        engine = stage.engine(market)
        source = str(batch["source_partition"])
        watermarks = stage.watermarks[market]
        if batch["source_offset"] <= watermarks.get(source, -1):
            return
        outputs = self.outputs.get(market)
        if outputs is None:
            outputs = self.outputs[market] = _Outputs(market, stage.markets[market], stage.partitions, engine.seq)
        for command in batch["commands"]:
            outputs.add(command, engine)
        watermarks[source] = batch["source_offset"]

    def finish(self, now_ms: int) -> tuple[StageResult, list[PendingCommit]]:
        result, commits = StageResult(), []
        full_depth_due = self.stage.full_depth_due
        for market, outputs in self.outputs.items():
            engine = self.stage.engines[market]
            changed = {order_id: engine.order_row(order_id) for order_id in outputs.touched}
            full_depth = outputs.has_events(engine) and now_ms >= full_depth_due.get(market, 0)
            if full_depth:
                full_depth_due[market] = now_ms + FULL_DEPTH_EVERY_MS
            result.messages.extend(outputs.finish(engine, now_ms, full_depth).messages)
            commits.append(PendingCommit(market, engine.seq, dict(self.stage.watermarks[market]), changed))
        return result, commits


class _Outputs:
    """Turns the engine's events for one market in one take into the records each topic carries."""

    def __init__(self, market: str, definition: dict, partitions: int, first_seq: int) -> None:
        self.market = market
        self.definition = definition
        self.partitions = partitions
        self.first_seq = first_seq + 1
        self.trades: list[dict] = []
        self.updates: list[tuple[int, dict]] = []
        self.settlements: dict[str, list[dict]] = {}
        self.results: list[tuple[dict, int | None]] = []  # (refusal, reply partition)
        self.waiting: dict[int, int] = {}  # order id -> reply partition of the API process waiting for it
        self.levels: dict[tuple[str, int], int] = {}
        self.touched: dict[int, None] = {}  # ordered set of order ids whose rows changed
        self.last_fill: dict[int, tuple[int, str, str, int]] = {}  # order id -> (seq, account, side, ts)
        self.fills: dict[int, list[dict]] = {}  # order id -> its fills since its last update (OrderFill)

    def add(self, command: Command, engine: Engine) -> None:
        kind, body = command["body"]
        account = command["account"]
        reply_to = reply_partition(command)
        if reply_to is not None and kind in (PLACE, CANCEL):
            self.waiting[cast(PlaceOrder | CancelOrder, body)["order_id"]] = reply_to
        # Sides of the orders a cancel may end, read before the engine forgets them.
        if kind == PLACE:
            sides, taker_side = {}, cast(PlaceOrder, body)["side"]
        elif kind == CANCEL:
            order_id = cast(CancelOrder, body)["order_id"]
            sides, taker_side = {order_id: _side_of(engine, order_id)}, None
        else:
            sides, taker_side = {o.order_id: o.side for o in engine.orders.values() if o.account == account}, None
        for event in engine.handle(engine_command(command, self.market)):
            self._event(event, kind, body, account, taker_side, sides, command)

    def _event(self, event, kind: str, body: Any, account: str, taker_side, sides: dict, command: Command) -> None:
        if isinstance(event, LevelChanged):
            self.levels[(event.side, event.price)] = event.qty
        elif isinstance(event, Trade):
            self._trade(event)
        elif isinstance(event, Accepted):
            self.touched[event.order_id] = None
            self._update(event.seq, event.order_id, event.account, event.side, NEW, 0, 0, event.qty, None, event.ts,
                         _terms(body, command))
        elif isinstance(event, Done):
            self.touched[event.order_id] = None
            if taker_side is not None:
                side = taker_side if event.order_id == body["order_id"] else OPPOSITE[taker_side]
            else:
                side = sides[event.order_id]
            self._update(event.seq, event.order_id, event.account, side, STATUS[event.status], event.filled_qty,
                         event.filled_quote, event.remaining_qty, event.reason, event.ts)
            # The type ignores here and in _trade: the engine takes any hashable account, the stage gives it str ids.
            self._settle(event.account, event.seq, "release", event.order_id, side)  # type: ignore[arg-type]
            self.last_fill.pop(event.order_id, None)
        elif isinstance(event, Rejected):
            if kind == PLACE:
                self._update(event.seq, body["order_id"], account, body["side"], REJECTED, 0, 0, None,
                             event.reason, event.ts, _terms(body, command))
                self._settle(account, event.seq, "release", body["order_id"], body["side"])
            else:
                self.results.append(({"command_id": command["command_id"], "account": account, "accepted": False,
                                      "reason": event.reason, "order_id": body.get("order_id"), "ts": event.ts,
                                      "kind": result_kind(kind)}, reply_partition(command)))

    def _trade(self, trade: Trade) -> None:
        maker_side = OPPOSITE[trade.taker_side]
        self.trades.append({
            "trade_id": trade.seq, "market": self.market, "price": trade.price, "quantity": trade.qty,
            "quote": trade.quote, "taker_side": trade.taker_side, "maker_order_id": trade.maker_order_id,
            "maker_account": trade.maker_account, "taker_order_id": trade.taker_order_id,
            "taker_account": trade.taker_account, "maker_fee": trade.maker_fee, "taker_fee": trade.taker_fee,
            "ts": trade.ts,
        })
        base = trade.qty * self.definition["base_per_step"]
        legs = ((trade.maker_order_id, trade.maker_account, maker_side, trade.maker_fee),
                (trade.taker_order_id, trade.taker_account, trade.taker_side, trade.taker_fee))
        for (order_id, owner, side, fee), maker in zip(legs, (True, False)):
            self.fills.setdefault(order_id, []).append({"trade_id": trade.seq, "price": trade.price,
                                                        "quantity": trade.qty, "quote": trade.quote, "fee": fee,
                                                        "maker": maker})
            self.touched[order_id] = None
            self._settle(owner, trade.seq, "fill", order_id, side, base, trade.quote, fee)  # type: ignore[arg-type]
            self.last_fill[order_id] = (trade.seq, owner, side, trade.ts)  # type: ignore[assignment]
        if trade.maker_fee + trade.taker_fee:
            self._settle(FEE_ACCOUNT, trade.seq, "fee", trade.taker_order_id, trade.taker_side,
                         fee=trade.maker_fee + trade.taker_fee)

    def _settle(self, account: str, seq: int, kind: str, order_id: int, side: str, base: int = 0, quote: int = 0,
                fee: int = 0) -> None:
        self.settlements.setdefault(account, []).append(
            {"seq": seq, "kind": kind, "order_id": order_id, "side": side, "base": base, "quote": quote, "fee": fee})

    def _update(self, seq, order_id, account, side, status, filled, filled_quote, remaining, reason, ts,
                terms: dict | None = None) -> None:
        update = {
            "seq": seq, "order_id": order_id, "account": account, "market": self.market, "side": side,
            "status": status, "filled_quantity": filled, "filled_quote": filled_quote,
            "remaining_quantity": remaining, "reason": reason, "ts": ts, "fills": self.fills.pop(order_id, []),
        }
        if terms is not None:
            update.update(terms)
        self.updates.append((seq, update))

    def has_events(self, engine: Engine) -> bool:
        """Whether the engine made events in this take (each takes an update id)."""
        return engine.seq >= self.first_seq

    def finish(self, engine: Engine, now_ms: int, full_depth: bool = False) -> StageResult:
        # Orders that traded and still rest end the batch partly filled, as of their last trade.
        for order_id, (seq, account, side, ts) in self.last_fill.items():
            row = engine.order_row(order_id)
            if row is not None:
                self._update(seq, order_id, account, side, PARTIALLY_FILLED, row.filled_qty, row.filled_quote,
                             row.remaining, None, ts)
        result = StageResult()
        market, partition = self.market, self.definition["partition"]
        send = result.messages.append
        if self.trades:
            send(Outgoing(TRADES, market, {"market": market, "trades": self.trades}, partition))
        if self.updates:
            self.updates.sort(key=lambda pair: pair[0])
            send(Outgoing(ORDER_UPDATES, market, {"market": market, "updates": [u for _, u in self.updates]},
                          partition))
        if self.has_events(engine):  # every one, so update ids stay contiguous
            bids = [{"price": p, "quantity": q} for (side, p), q in self.levels.items() if side == "buy"]
            asks = [{"price": p, "quantity": q} for (side, p), q in self.levels.items() if side == "sell"]
            send(Outgoing(DEPTH, market, {"market": market, "first_update_id": self.first_seq,
                                          "last_update_id": engine.seq, "bids": bids, "asks": asks,
                                          "ts": now_ms, "full": False}, partition))
            if full_depth:
                send(Outgoing(DEPTH, market, {"market": market, "first_update_id": engine.seq,
                                              "last_update_id": engine.seq, "bids": _levels(engine.bids.depth()),
                                              "asks": _levels(engine.asks.depth()), "ts": now_ms, "full": True},
                              partition))
        by_partition: dict[int, list[dict]] = {}
        for account, items in self.settlements.items():
            by_partition.setdefault(account_partition(account, self.partitions), []).append(
                {"account": account, "items": items})
        for target, accounts in sorted(by_partition.items()):
            send(Outgoing(SETTLEMENTS, market, {"market": market, "accounts": accounts}, target))
        for outcome, _ in self.results:
            send(Outgoing(COMMAND_RESULTS, outcome["account"], outcome,
                          account_partition(outcome["account"], self.partitions)))
        for reply_to, reply in sorted(self._replies().items()):
            send(Outgoing(REPLIES, market, reply, reply_to))
        return result

    def _replies(self) -> dict[int, dict]:
        """Per waiting API process: the take's updates of the orders its commands placed or
        canceled (the order's state after the take, immediate fills included) and its refusals."""
        replies: dict[int, dict] = {}
        for _, update in self.updates:
            reply_to = self.waiting.get(update["order_id"])
            if reply_to is not None:
                replies.setdefault(reply_to, {"results": [], "updates": []})["updates"].append(update)
        for outcome, reply_to in self.results:
            if reply_to is not None:
                replies.setdefault(reply_to, {"results": [], "updates": []})["results"].append(outcome)
        return replies


def engine_command(command: Command, market: str | None = None) -> Place | Cancel | CancelAll:
    """The engine's form of an accepted `exchange.Command` (place, cancel or cancel all)."""
    kind, body = command["body"]
    account, ts = command["account"], command["ts"]
    if kind == PLACE:
        order = cast(PlaceOrder, body)
        return Place(order["order_id"], account, order["side"], order["type"], order["time_in_force"], order["price"],
                     order["quantity"], ts, order["post_only"], order["quote_quantity"], order["stp"], market)
    if kind == CANCEL:
        return Cancel(cast(CancelOrder, body)["order_id"], account, ts, market)
    return CancelAll(account, ts, market)


def _terms(body: PlaceOrder, command: Command) -> dict:
    """What an order asked for, sent once with its first update so readers need not see commands."""
    return {"type": body["type"], "time_in_force": body["time_in_force"], "price": body["price"],
            "quantity": body["quantity"], "quote_quantity": body["quote_quantity"], "post_only": body["post_only"],
            "client_order_id": body["client_order_id"], "created_ts": command["ts"]}


def _levels(depth: list[tuple[int, int]]) -> list[dict]:
    return [{"price": price, "quantity": quantity} for price, quantity in depth]


def _side_of(engine: Engine, order_id: int) -> str | None:
    row = engine.order_row(order_id)
    return row.side if row is not None else None

