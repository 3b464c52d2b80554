"""Own orders: place, cancel one, cancel all, get one, list open, history, own fills."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from starlette.requests import Request

from exchange.commands import cancel, cancel_all, now_ms, place
from exchange.order_rules import below_min_notional, breach
from exchange.reference import DefinitionError, amount_to_atoms, price_to_ticks, qty_to_steps
from schemas.records import Command
from schemas.vocabulary import DUPLICATE_CLIENT_ORDER_ID, OPEN_STATUSES, REJECTED

from . import views
from .errors import ApiError, bad_request, not_found
from .fresh_reads import FILLS, ORDERS, fresh
from .inputs import CLIENT_ORDER_ID, account, cursor, decimal_text, flag, json_body, limit, path_id, text
from .pages import time_cursor, time_page
from .responses import JSONResponse

log = logging.getLogger("exchange.api.orders")

PLACE_WAIT_S = 2.0  # how long a place waits for the engine's outcome before answering 202
FIELDS = {"market", "side", "type", "time_in_force", "price", "quantity", "quote_quantity", "post_only",
          "client_order_id"}


def _market(request: Request, symbol: str | None) -> dict:
    market = request.app.state.feeds.markets.get(symbol) if symbol else None
    if market is None:
        raise ApiError(404, "unknown_market", f"no market {symbol}")
    return market


def _number(body: dict, name: str, required: bool, convert) -> int | None:
    """A decimal field in the market's integer units, or None when absent."""
    value = decimal_text(body, name, required)
    if value is None:
        return None
    try:
        return convert(value)
    except DefinitionError as exc:
        raise bad_request(f"{name}: {exc}", "invalid_number", name) from None


def _render(request: Request, row) -> dict:
    feeds = request.app.state.feeds
    return views.order(row, feeds.markets, feeds.assets)


async def place_order(request: Request) -> JSONResponse:
    owner = await account(request)
    body = await json_body(request, FIELDS)
    market = _market(request, text(body, "market", max_len=24))
    side = text(body, "side", choices=("buy", "sell"))
    kind = text(body, "type", required=False, default="limit", choices=("limit", "market"))
    tif = text(body, "time_in_force", required=False, default="GTC" if kind == "limit" else "IOC",
               choices=("GTC", "IOC", "FOK"))
    post_only = flag(body, "post_only")
    client_order_id = text(body, "client_order_id", required=False, pattern=CLIENT_ORDER_ID, max_len=36)
    if market["status"] != "open":
        raise ApiError(422, "market_halted", f"market {market['symbol']} is halted")
    quote_asset = request.app.state.feeds.assets[market["quote"]]
    price = _number(body, "price", kind == "limit", lambda value: price_to_ticks(market, value))
    quantity = _number(body, "quantity", False, lambda value: qty_to_steps(market, value))
    funds = _number(body, "quote_quantity", False, lambda value: amount_to_atoms(quote_asset, value))
    broken = breach(kind, side, price, quantity, funds, post_only, tif)
    if broken is not None:
        raise bad_request(broken.message, "missing_field" if broken.missing else "invalid_request", broken.field)
    if below_min_notional(market, price, quantity):
        raise ApiError(422, "below_min_notional",
                       f"price x quantity is below the market's minimum of "
                       f"{views.amount(quote_asset, market['min_notional'])} {market['quote']}")
    placed = await submit(request, owner, market, side, price, quantity, type=kind, time_in_force=tif,
                          post_only=post_only, quote_quantity=funds, client_order_id=client_order_id)
    if placed.in_flight:
        raise ApiError(503, "order_in_flight", "an earlier request with this client_order_id is still being placed; "
                                               "send it again shortly", headers={"Retry-After": "1"})
    if placed.first_order_id is not None:  # a retry: the client order id names the first request's order
        return await _first_order(request, owner, placed.first_order_id, client_order_id, market["symbol"])
    order_id, command, outcome = placed.order_id, placed.command, placed.outcome
    if outcome is None:
        return JSONResponse({"order_id": str(order_id), "client_order_id": client_order_id,
                             "market": market["symbol"], "status": "pending"}, status_code=202)
    kind_of, record = outcome
    if kind_of == "result":  # refused by the accounts stage: no order exists
        view = {"order_id": str(order_id), "client_order_id": client_order_id, "market": market["symbol"],
                "side": side, "type": kind, "time_in_force": tif, "post_only": post_only,
                "price": body.get("price"), "quantity": body.get("quantity"),
                "quote_quantity": body.get("quote_quantity"), "filled_quantity": "0", "filled_quote": "0",
                "status": REJECTED, "reject_reason": record["reason"], "created_at": command["ts"],
                "updated_at": record["ts"]}
        return JSONResponse(view, status_code=201)
    record = {**record, "type": kind, "time_in_force": tif, "post_only": post_only, "price": price,
              "quantity": quantity, "quote_quantity": funds, "client_order_id": client_order_id,
              "created_ts": command["ts"], "updated_ts": record["ts"]}
    return JSONResponse(_render(request, record), status_code=201)


@dataclass
class Placed:
    """What became of an order sent to the accounts stage."""

    order_id: int
    command: Command | None
    outcome: tuple[str, dict] | None  # ("result", refusal) or ("update", the engine's first update); None: pending
    first_order_id: int | None = None  # a retry of a client order id: the order the first request made
    in_flight: bool = False  # a retry while the first request may still be sending: nothing was placed


CLAIM_SENT_WAIT_S = 3.0  # how long a retry waits for the first request's claim to say "sent"
STALE_CLAIM_MS = 120_000  # a claim never marked sent this long after it was made: its request died


async def submit(request: Request, owner: str, market: dict, side: str, price: int | None, quantity: int | None,
                 **terms) -> Placed:
    """Send an order checked at the edge and wait (briefly) for what the exchange made of it.

    A client order id is claimed first (an LWT in Cassandra), so a retry, to whichever API
    process, learns the first request's order instead of placing a second one. The claim is marked
    sent once Kafka has the order: a retry finding a claim not marked sent waits a moment for it,
    answers "in flight" while the first request may still be sending, and once the claim is
    `STALE_CLAIM_MS` old (far past any send: the process that made it died between claiming and
    sending) takes it over and places the order itself.
    """
    state = request.app.state
    order_id = state.ids.next()
    client_order_id = terms.get("client_order_id")
    if client_order_id is not None:
        first = await _claim(request, owner, client_order_id, order_id, market["symbol"])
        if first is not None:
            return first
    command = place(owner, order_id, market["symbol"], side, price, quantity, **terms)
    sent = False

    async def mark_sent() -> None:
        nonlocal sent
        sent = True
        if client_order_id is not None:
            await _mark_sent(state.store, owner, client_order_id)

    try:
        outcome = await send_and_wait(request, command, order_id, on_sent=mark_sent)
    except Exception:
        if client_order_id is not None and not sent:  # never sent: a retry must be free to place it
            await state.store.rows("release_client_order", owner, client_order_id, order_id)
        raise
    _log_order("order placed", owner, order_id, market["symbol"], outcome, client_order_id)
    if outcome is not None and outcome[0] == "result" and outcome[1]["reason"] == DUPLICATE_CLIENT_ORDER_ID \
            and outcome[1].get("existing_order_id") is not None:
        # Open since before its claim expired: the order this client id names is that one.
        return Placed(order_id, command, outcome, outcome[1]["existing_order_id"])
    return Placed(order_id, command, outcome)


async def _claim(request: Request, owner: str, client_order_id: str, order_id: int, market: str) -> Placed | None:
    """Claim the client order id for `order_id`; None if this request is to place it, else what a
    retry answers: the first request's order, or "in flight"."""
    store = request.app.state.store
    [claim] = await store.rows("claim_client_order", owner, client_order_id, order_id, market, now_ms())
    if claim[0]:  # [applied]
        return None
    sent, first_id, claimed_ts = claim.sent, claim.order_id, claim.claimed_ts
    deadline = time.monotonic() + CLAIM_SENT_WAIT_S
    while not sent and claimed_ts is not None:  # a claim from before claims said when they were sent: sent
        if now_ms() - claimed_ts >= STALE_CLAIM_MS:
            await fresh(request, owner, ORDERS)
            if await store.one("order", owner, first_id) is not None:
                # Sent after all (the process died after Kafka had it, before the mark): it stands.
                await _mark_sent(store, owner, client_order_id)
                return Placed(first_id, None, None, first_id)
            [taken] = await store.rows("take_over_claim", order_id, market, now_ms(), owner, client_order_id,
                                       first_id)
            if taken[0]:
                log.warning("client order id claimed by a request that never sent its order: placed anew",
                            extra={"client_order_id": client_order_id, "account": owner, "order_id": order_id})
                return None
        if time.monotonic() > deadline:
            return Placed(first_id, None, None, in_flight=True)
        await asyncio.sleep(0.1)
        row = await store.one("claim_state", owner, client_order_id)
        if row is None:  # released: the first request failed to send; this one may claim it
            return await _claim(request, owner, client_order_id, order_id, market)
        sent, first_id, claimed_ts = row.sent, row.order_id, row.claimed_ts
    return Placed(first_id, None, None, first_id)


async def _mark_sent(store, owner: str, client_order_id: str) -> None:
    try:
        await store.rows("claim_sent", owner, client_order_id)
    except Exception:  # noqa: BLE001 - the order is sent whatever happens here; a retry waits longer
        log.warning("could not mark a client order id's claim sent", exc_info=True,
                    extra={"client_order_id": client_order_id, "account": owner})


def _log_order(what: str, owner: str, order_id: int, market: str, outcome, client_order_id: str | None = None) -> None:
    if outcome is None:
        status, reason = "pending", None
    elif outcome[0] == "result":
        status, reason = "REFUSED", outcome[1]["reason"]
    else:
        status, reason = outcome[1].get("status"), outcome[1].get("reason")
    log.info(what, extra={"order_id": order_id, "client_order_id": client_order_id, "account": owner,
                          "market": market, "status": status, "reason": reason})


async def send_and_wait(request: Request, command: Command, order_id: int | None, on_sent=None):
    """Send the command and wait (briefly) for its outcome; None if it takes longer. `on_sent`
    runs once Kafka has the command."""
    feeds = request.app.state.feeds
    command["reply_to"] = feeds.reply_to
    future = feeds.expect(order_id, command["command_id"])
    try:
        await request.app.state.commands.send([command])
        if on_sent is not None:
            await on_sent()
        return await asyncio.wait_for(future, PLACE_WAIT_S)
    except asyncio.TimeoutError:
        return None
    finally:
        feeds.forget(order_id, command["command_id"])


async def _first_order(request: Request, owner: str, order_id: int, client_order_id: str,
                       market: str) -> JSONResponse:
    """A retry of an order the accounts stage holds already: answer with that order, as the read
    side has it (200), or as pending (202) while it is on its way there. Either way the client
    learns the first order's id, whichever API process answered the first request."""
    for _ in range(20):
        row = await request.app.state.store.one("order", owner, order_id)
        if row is not None:
            return JSONResponse(_render(request, row), status_code=200)
        await asyncio.sleep(0.1)
    return JSONResponse({"order_id": str(order_id), "client_order_id": client_order_id,
                         "market": market, "status": "pending"}, status_code=202)


async def _own_order(request: Request, owner: str):
    order_id = path_id(request, "order_id")
    await fresh(request, owner, ORDERS)
    row = None if order_id is None else await request.app.state.store.one("order", owner, order_id)
    if row is None:
        raise not_found("no such order")  # another account's order looks exactly like a missing one
    return row


async def get_order(request: Request) -> JSONResponse:
    return JSONResponse(_render(request, await _own_order(request, await account(request))))


async def cancel_order(request: Request) -> JSONResponse:
    owner = await account(request)
    row = await _own_order(request, owner)
    if row.status not in OPEN_STATUSES:
        raise ApiError(409, "order_done", f"the order is {row.status} already")
    command = cancel(owner, row.order_id, row.market)
    outcome = await send_and_wait(request, command, row.order_id)
    _log_order("order cancel", owner, row.order_id, row.market, outcome)
    if outcome is None:
        return JSONResponse({"order_id": str(row.order_id), "status": "pending_cancel"}, status_code=202)
    kind_of, record = outcome
    if kind_of == "result":
        raise ApiError(409, record["reason"] or "cancel_refused", "the order could not be canceled "
                       f"({record['reason']}); it may have filled meanwhile")
    merged = {**{k: getattr(row, k) for k in row._fields}, **record, "updated_ts": record["ts"]}
    return JSONResponse(_render(request, merged))


async def cancel_all_orders(request: Request) -> JSONResponse:
    owner = await account(request)
    market = _market(request, request.query_params.get("market"))
    await request.app.state.commands.send([cancel_all(owner, market["symbol"])])
    return JSONResponse({"market": market["symbol"], "status": "cancel_requested"}, status_code=202)


async def open_order_rows(request: Request, owner: str, symbol: str | None) -> list:
    """The orders table rows of the account's open orders (of one market, if `symbol`), as the
    read side lists them."""
    store = request.app.state.store
    await fresh(request, owner, ORDERS)
    listed = await (store.rows("open_orders_in", owner, symbol) if symbol is not None
                    else store.rows("open_orders", owner))
    orders = await asyncio.gather(*(store.one("order", owner, r.order_id) for r in listed))
    return [order for order in orders if order is not None]


async def open_orders(request: Request) -> JSONResponse:
    owner = await account(request)
    symbol = request.query_params.get("market")
    if symbol is not None:
        _market(request, symbol)
    orders = await open_order_rows(request, owner, symbol)
    items = sorted((_render(request, o) for o in orders), key=lambda o: -int(o["order_id"]))
    return JSONResponse({"items": items, "next": None})


async def order_history(request: Request) -> JSONResponse:
    owner, size = await account(request), limit(request, 50, 500)
    await fresh(request, owner, ORDERS)
    rows = await request.app.state.store.rows("orders", owner, cursor(request), size)
    symbol = request.query_params.get("market")
    items = [_render(request, r) for r in rows if symbol is None or r.market == symbol]
    return JSONResponse({"items": items, "next": str(rows[-1].order_id) if len(rows) == size else None})


async def my_trades(request: Request) -> JSONResponse:
    owner, size = await account(request), limit(request, 50, 500)
    ts, skip = time_cursor(request)
    feeds = request.app.state.feeds
    await fresh(request, owner, FILLS)
    rows, next_page = time_page(await request.app.state.store.rows("my_trades", owner, ts, size + skip), ts, skip,
                                size)
    symbol = request.query_params.get("market")
    items = [views.my_trade(r, feeds.markets[r.market], feeds.assets) for r in rows
             if (symbol is None or r.market == symbol) and r.market in feeds.markets]
    return JSONResponse({"items": items, "next": next_page})
