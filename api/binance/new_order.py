"""Binance's new orders: POST /api/v3/order and order/test, checked as Binance checks them and
placed through the exchange's own order flow (api/orders.py's `submit`)."""

from __future__ import annotations

import re

from starlette.requests import Request

from exchange.commands import now_ms
from exchange.order_rules import below_min_notional, breach, notional
from exchange.reference import (
    DefinitionError,
    amount_to_atoms,
    ppm_to_fee,
    price_to_ticks,
    qty_to_steps,
)
from schemas.codec import codec
from schemas.vocabulary import BELOW_MIN_NOTIONAL, INSUFFICIENT_FUNDS, MARKET_HALTED, REJECTED
from streams.engine.events import POST_ONLY_WOULD_TRADE

from ..fresh_reads import FILLS, fresh
from ..inputs import CLIENT_ORDER_ID
from ..orders import submit
from ..responses import JSONResponse
from . import errors, views
from .numbers import ZERO, fixed
from .params import Params, signed

DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER")
ELSEWHERE_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
STP_MODES = {"EXPIRE_TAKER": "expire_taker", "EXPIRE_MAKER": "expire_maker", "EXPIRE_BOTH": "expire_both"}
# A market buy by quantity holds what walking the book's asks would cost, this much more (the book
# may move before it fills), and never more than the account has.
MARKET_BUY_MARGIN = (11, 10)
UNSUPPORTED = errors.BinanceError(400, -1014, "Unsupported order combination.")


def _feeds(request: Request):
    return request.app.state.feeds


def _decimal(params: Params, name: str, convert, filter_name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if not DECIMAL.fullmatch(text):
        raise errors.bad_value(name, "a positive decimal number is expected")
    try:
        value = convert(text)
    except DefinitionError:
        raise errors.filter_failure(filter_name) from None
    if value <= 0:
        raise errors.filter_failure(filter_name)
    return value


class Order:
    """A new order's parameters, checked as Binance checks them, in the exchange's units."""

    def __init__(self, params: Params, markets: dict, assets: dict) -> None:
        self.market = views.market_of(markets, params.get("symbol"))
        market, quote = self.market, assets[self.market["quote"]]
        self.quote = quote
        self.side = params.choice("side", ("BUY", "SELL"), errors.invalid_side()) or _missing("side")
        kind = params.get("type")
        if kind is None:
            raise errors.mandatory("type")
        if kind in ELSEWHERE_TYPES:
            raise UNSUPPORTED
        if kind not in TYPES:
            raise errors.invalid_order_type()
        self.kind = kind
        tif = params.choice("timeInForce", ("GTC", "IOC", "FOK"), errors.invalid_tif())
        self.price = _decimal(params, "price", lambda text: price_to_ticks(market, text), "PRICE_FILTER")
        self.quantity = _decimal(params, "quantity", lambda text: qty_to_steps(market, text), "LOT_SIZE")
        self.funds = _decimal(params, "quoteOrderQty", lambda text: amount_to_atoms(quote, text), "NOTIONAL")
        client_order_id = params.get("newClientOrderId")
        if client_order_id is not None and (not CLIENT_ORDER_ID.fullmatch(client_order_id)
                                            or client_order_id.startswith(views.AUTO_CLIENT_ID)):
            raise errors.bad_value("newClientOrderId", "1 to 36 of A-Z a-z 0-9 _ . : -, not starting with auto-")
        self.client_order_id = client_order_id
        self.response_type = params.choice("newOrderRespType", ("ACK", "RESULT", "FULL"),
                                           default="FULL" if kind in ("LIMIT", "MARKET") else "ACK")
        stp = params.get("selfTradePreventionMode")
        if stp not in (None, *STP_MODES):
            raise errors.bad_value("selfTradePreventionMode",
                                   "EXPIRE_TAKER, EXPIRE_MAKER or EXPIRE_BOTH (self-trades are always prevented)")
        self.stp = STP_MODES[stp or "EXPIRE_TAKER"]
        for name in ("stopPrice", "trailingDelta", "icebergQty"):
            if params.get(name) not in (None, "0"):
                raise UNSUPPORTED
        params.get("strategyId")
        params.get("strategyType")
        params.done()
        self.time_in_force, self.post_only = self._terms(tif)

    def _terms(self, tif: str | None) -> tuple[str, bool]:
        kind = self.kind
        if kind == "LIMIT":
            for name, value in (("timeInForce", tif), ("quantity", self.quantity), ("price", self.price)):
                if value is None:
                    raise errors.mandatory(name)
            if self.funds is not None:
                raise errors.not_required("quoteOrderQty")
            return tif, False
        if kind == "LIMIT_MAKER":
            if tif is not None:
                raise errors.not_required("timeInForce")
            for name, value in (("quantity", self.quantity), ("price", self.price)):
                if value is None:
                    raise errors.mandatory(name)
            if self.funds is not None:
                raise errors.not_required("quoteOrderQty")
            return "GTC", True
        if self.price is not None:
            raise errors.not_required("price")
        if tif is not None:
            raise errors.not_required("timeInForce")
        if (self.quantity is None) == (self.funds is None):
            raise errors.BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                                  "but both were empty or both were sent.")
        if self.side == "SELL" and self.funds is not None:
            raise UNSUPPORTED  # a market sell here is sized by its quantity
        return "IOC", False

    def check(self) -> None:
        """What the accounts stage would refuse for the order itself, refused here with Binance's codes."""
        if self.market["status"] != "open":
            raise errors.order_rejected("Market is closed.")
        side = self.side.lower()
        kind = "market" if self.kind == "MARKET" else "limit"
        funds = self.funds if side == "buy" else None
        if kind == "market" and side == "buy" and funds is None:
            funds = 1  # sized when sent (see market_buy_funds); the rules only ask that it is there
        broken = breach(kind, side, self.price, self.quantity, funds, self.post_only, self.time_in_force)
        if broken is not None:
            raise errors.BinanceError(400, -1013, broken.message)
        if below_min_notional(self.market, self.price, self.quantity):
            raise errors.filter_failure("NOTIONAL")


def _missing(name: str):
    raise errors.mandatory(name)


async def _market_buy_funds(request: Request, owner: str, order: Order) -> int:
    """The most a market buy by quantity may spend: the asks it would walk, with a margin, within
    what the account has available."""
    store, market = request.app.state.store, order.market
    available = 0
    for row in await store.rows("balances", owner):
        if row.asset == market["quote"]:
            available = row.available
    row = await store.one("depth", market["symbol"])
    cost, left = 0, order.quantity or 0
    if row is not None:
        for level in codec.decode_as("exchange.DepthSnapshot", row.snapshot)["asks"]:
            take = min(left, level["quantity"])
            cost += notional(market, level["price"], take)
            left -= take
            if not left:
                break
    if left or not cost:
        return max(available, 1)
    fee = cost * market["taker_fee_ppm"] // 1_000_000 + 1
    return max(1, min(available, (cost + fee) * MARKET_BUY_MARGIN[0] // MARKET_BUY_MARGIN[1]))


async def new_order(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    request.state.orders_10s = request.app.state.binance_limits.new_order(owner)
    feeds = _feeds(request)
    order = Order(params, feeds.markets, feeds.assets)
    order.check()
    funds = order.funds
    if order.kind == "MARKET" and order.side == "BUY" and funds is None:
        funds = await _market_buy_funds(request, owner, order)
    placed = await submit(request, owner, order.market, order.side.lower(), order.price, order.quantity,
                          type="market" if order.kind == "MARKET" else "limit", time_in_force=order.time_in_force,
                          post_only=order.post_only, quote_quantity=funds, client_order_id=order.client_order_id,
                          stp=order.stp)
    if placed.first_order_id is not None:
        raise errors.order_rejected("Duplicate order sent.")
    if placed.outcome is None or placed.in_flight:
        raise errors.BinanceError(503, -1007, "Timeout waiting for response from backend server. Send status "
                                              "unknown; execution status unknown.")
    kind_of, record = placed.outcome
    if kind_of == "result":
        raise _refusal(record["reason"])
    if record["status"] == REJECTED:
        if record.get("reason") == POST_ONLY_WOULD_TRADE:
            raise errors.order_rejected("Order would immediately match and take.")
        raise errors.order_rejected(f"Order rejected: {record.get('reason')}.")
    command = placed.command
    merged = {**record, "type": "market" if order.kind == "MARKET" else "limit",
              "time_in_force": order.time_in_force, "post_only": order.post_only, "price": order.price,
              "quantity": order.quantity, "quote_quantity": order.funds, "client_order_id": order.client_order_id,
              "created_ts": command["ts"] if command else record["ts"], "updated_ts": record["ts"]}
    view = views.order(merged, order.market, order.quote)
    fills = []
    if order.response_type == "FULL" and record.get("filled_quantity"):
        fills = await _fills(request, owner, placed.order_id, order)
    return JSONResponse(views.placed(view, order.response_type, fills))


def _refusal(reason: str) -> errors.BinanceError:
    if reason == INSUFFICIENT_FUNDS:
        return errors.order_rejected(errors.INSUFFICIENT_BALANCE)
    if reason == MARKET_HALTED:
        return errors.order_rejected("Market is closed.")
    if reason == BELOW_MIN_NOTIONAL:
        return errors.filter_failure("NOTIONAL")
    return errors.order_rejected(f"Order rejected: {reason}.")


async def _fills(request: Request, owner: str, order_id: int, order: Order) -> list[dict]:
    """The order's fills: the read side has them once it has what was written before this read."""
    await fresh(request, owner, FILLS)
    rows = [row for row in await request.app.state.store.rows("my_trades", owner, now_ms() + 60_000, 200)
            if row.order_id == order_id]
    rows.sort(key=lambda row: row.trade_id)
    return [views.fill(row, order.market, order.quote) for row in rows]


async def test_order(request: Request) -> JSONResponse:
    params, owner = await signed(request)
    commission = params.get("computeCommissionRates") == "true"
    feeds = _feeds(request)
    order = Order(params, feeds.markets, feeds.assets)
    order.check()
    if not commission:
        return JSONResponse({})
    maker, taker = order.market["maker_fee_ppm"], order.market["taker_fee_ppm"]
    return JSONResponse({"standardCommissionForOrder": {"maker": fixed(ppm_to_fee(maker)),
                                                        "taker": fixed(ppm_to_fee(taker))},
                         "specialCommissionForOrder": {"maker": ZERO, "taker": ZERO},
                         "taxCommissionForOrder": {"maker": ZERO, "taker": ZERO},
                         "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": None,
                                      "discount": ZERO}})
