"""Own money: balances and deposits (withdrawals and the ledger have modules of their own)."""

from __future__ import annotations

from starlette.requests import Request

from exchange.commands import deposit
from exchange.reference import DefinitionError, amount_to_atoms
from schemas.records import Command

from . import views
from .errors import ApiError, bad_request, forbidden
from .fresh_reads import BALANCE, fresh
from .inputs import account, claims, decimal_text, json_body, text
from .orders import send_and_wait
from .responses import JSONResponse


async def balances(request: Request) -> JSONResponse:
    owner = await account(request)
    assets = request.app.state.feeds.assets
    await fresh(request, owner, BALANCE)
    rows = await request.app.state.store.rows("balances", owner)
    items = [{"asset": r.asset, "available": views.amount(assets[r.asset], r.available),
              "held": views.amount(assets[r.asset], r.held)} for r in rows if r.asset in assets]
    return JSONResponse({"items": items, "next": None})


def asset_and_atoms(request: Request, body: dict) -> tuple[str, int]:
    symbol = text(body, "asset", max_len=10)
    asset = request.app.state.feeds.assets.get(symbol)
    if asset is None:
        raise ApiError(404, "unknown_asset", f"no asset {symbol}")
    try:
        return symbol, amount_to_atoms(asset, decimal_text(body, "amount", True))
    except DefinitionError as exc:
        raise bad_request(f"amount: {exc}", "invalid_number", "amount") from None


async def _move(request: Request, command: Command, asset: str, atoms: int) -> JSONResponse:
    outcome = await send_and_wait(request, command, None)
    shown = views.amount(request.app.state.feeds.assets[asset], atoms)
    if outcome is None:
        return JSONResponse({"id": command["command_id"], "asset": asset, "amount": shown, "status": "pending"},
                            status_code=202)
    result = outcome[1]
    if not result["accepted"]:
        raise ApiError(422, result["reason"] or "refused", f"refused: {result['reason']}")
    return JSONResponse({"id": command["command_id"], "asset": asset, "amount": shown, "status": "done"},
                        status_code=201)


async def deposit_funds(request: Request) -> JSONResponse:
    """Admins credit any account; in development, with EXCHANGE_FAUCET=on, anyone credits themself."""
    found = await claims(request)
    body = await json_body(request, {"asset", "amount", "account"})
    target = body.get("account", found["sub"])
    if found.get("role") != "admin":
        if not request.app.state.settings.faucet:
            raise forbidden("deposits are made by an administrator (the development faucet is off)")
        if target != found["sub"]:
            raise forbidden("the faucet credits your own account only")
    if not isinstance(target, str) or not target:
        raise bad_request("account must be an account id")
    asset, atoms = asset_and_atoms(request, body)
    return await _move(request, deposit(target, asset, atoms, "deposit over the API"), asset, atoms)
