"""Withdrawals: a user asks, the funds are held; an operator completes or fails it.

The accounts stage is the authority: it holds the funds at the request and takes them (completed)
or releases them (failed) at the settlement, once. The tables read here are written by the
recorder from the stage's results, a moment after the answer; an operator's settlement checks
them first only to give a clear 404 or 409, and the stage refuses a second settlement anyway.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from exchange.commands import settle_withdrawal, withdraw

from . import views
from .admin import require_admin
from .errors import ApiError, bad_request, not_found
from .fresh_reads import WITHDRAWALS, fresh
from .inputs import account, json_body, limit, text
from .orders import send_and_wait
from .responses import JSONResponse
from .wallet import asset_and_atoms

# Destination addresses and chain references of every chain we know fit this; anything else
# (spaces, quotes, control characters) is refused before it reaches an operator's tooling.
ADDRESS = re.compile(r"[A-Za-z0-9:._-]{1,128}")
WITHDRAWAL_ID = re.compile(r"[0-9a-f]{32}")
PROCESSING = "processing"


def _view(request: Request, row, with_account: bool = False) -> dict:
    """A withdrawal from any of the three tables (a pending_withdrawals row is one still processing)."""
    asset = request.app.state.feeds.assets[row.asset]
    view = {"id": row.withdrawal_id, "asset": row.asset, "amount": views.amount(asset, row.amount),
            "address": row.address, "status": getattr(row, "status", PROCESSING), "requested_at": row.requested_ts,
            "settled_at": getattr(row, "settled_ts", None), "reference": getattr(row, "settle_reference", None) or None}
    if with_account:
        view["account"] = row.account
    return view


def _refused(result: dict) -> ApiError:
    reason = result["reason"] or "refused"
    if reason in ("unknown_withdrawal", "withdrawal_mismatch"):
        return ApiError(409, reason, "the withdrawal is not processing any more (settled meanwhile)")
    return ApiError(422, reason, f"refused: {reason}")


# -- users ------------------------------------------------------------------------------------

async def request_withdrawal(request: Request) -> JSONResponse:
    """201 once the funds are held (status processing); 202 if the answer takes longer."""
    owner = await account(request)
    body = await json_body(request, {"asset", "amount", "address"})
    asset, atoms = asset_and_atoms(request, body)
    address = text(body, "address", pattern=ADDRESS, max_len=128)
    command = withdraw(owner, asset, atoms, address)
    outcome = await send_and_wait(request, command, None)
    shown = {"id": command["command_id"], "asset": asset,
             "amount": views.amount(request.app.state.feeds.assets[asset], atoms), "address": address,
             "requested_at": command["ts"], "settled_at": None, "reference": None}
    if outcome is None:
        return JSONResponse({**shown, "status": "pending"}, status_code=202)
    if not outcome[1]["accepted"]:
        raise _refused(outcome[1])
    return JSONResponse({**shown, "status": PROCESSING}, status_code=201)


async def own_withdrawals(request: Request) -> JSONResponse:
    owner, size = await account(request), limit(request, 50, 500)
    before = request.query_params.get("cursor")
    await fresh(request, owner, WITHDRAWALS)
    if before is None:
        rows = await request.app.state.store.rows("withdrawals", owner, size)
    elif WITHDRAWAL_ID.fullmatch(before):
        rows = await request.app.state.store.rows("withdrawals_before", owner, before, size)
    else:
        raise bad_request("cursor must be the `next` value of the previous page")
    items = [_view(request, r) for r in rows if r.asset in request.app.state.feeds.assets]
    return JSONResponse({"items": items, "next": rows[-1].withdrawal_id if len(rows) == size else None})


async def _withdrawal(request: Request):
    withdrawal_id = request.path_params["withdrawal_id"]
    row = None
    if WITHDRAWAL_ID.fullmatch(withdrawal_id):
        row = await request.app.state.store.one("withdrawal", withdrawal_id)
    if row is None or row.asset not in request.app.state.feeds.assets:
        raise not_found("no such withdrawal")
    return row


async def own_withdrawal(request: Request) -> JSONResponse:
    owner = await account(request)
    await fresh(request, owner, WITHDRAWALS)
    row = await _withdrawal(request)
    if row.account != owner:
        raise not_found("no such withdrawal")  # another account's looks exactly like a missing one
    return JSONResponse(_view(request, row))


# -- operators --------------------------------------------------------------------------------

async def pending_withdrawals(request: Request) -> JSONResponse:
    """One asset's withdrawals still to send, oldest first."""
    await require_admin(request)
    size = limit(request, 100, 1000)
    symbol = request.query_params.get("asset")
    if symbol is None:
        raise bad_request("asset is required: operators work one asset's queue at a time", "missing_field")
    if symbol not in request.app.state.feeds.assets:
        raise ApiError(404, "unknown_asset", f"no asset {symbol}")
    after = request.query_params.get("cursor", "")
    if after and not WITHDRAWAL_ID.fullmatch(after):
        raise bad_request("cursor must be the `next` value of the previous page")
    rows = await request.app.state.store.rows("pending_withdrawals", symbol, after, size)
    items = [_view(request, r, with_account=True) for r in rows]
    return JSONResponse({"items": items, "next": rows[-1].withdrawal_id if len(rows) == size else None})


async def _settle(request: Request, completed: bool) -> JSONResponse:
    await require_admin(request)
    body = await json_body(request, {"reference"}) if await request.body() else {}
    reference = text(body, "reference", required=False, default="", pattern=ADDRESS, max_len=128)
    row = await _withdrawal(request)
    if row.status != PROCESSING:
        raise ApiError(409, "withdrawal_settled", f"the withdrawal is {row.status} already")
    command = settle_withdrawal(row.account, row.withdrawal_id, row.asset, row.amount, completed, reference)
    outcome = await send_and_wait(request, command, None)
    view = _view(request, row, with_account=True)
    if outcome is None:  # still processing as far as anyone knows yet
        return JSONResponse(view, status_code=202)
    if not outcome[1]["accepted"]:
        raise _refused(outcome[1])
    view.update(status="completed" if completed else "failed", settled_at=command["ts"], reference=reference or None)
    return JSONResponse(view, status_code=200)


async def complete_withdrawal(request: Request) -> JSONResponse:
    """The funds were sent: they leave the account, and the ledger shows it."""
    return await _settle(request, completed=True)


async def fail_withdrawal(request: Request) -> JSONResponse:
    """The funds could not be sent: they are the account's to use again."""
    return await _settle(request, completed=False)
