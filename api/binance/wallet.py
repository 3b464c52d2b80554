"""What Binance clients ask for beside spot trading, answered for a spot-only exchange: the
currencies (`/sapi/v1/capital/config/getall`), the margin pairs (none) and the futures markets'
exchangeInfo (none).

ccxt asks for all of these from `load_markets` with its default options; an error on any of them
fails the whole call, so a client that changed only its URLs could not start. Every other path
under /sapi, /fapi, /dapi, /eapi and /papi still answers -1000 (errors.unsupported).
"""

from __future__ import annotations

import time

from starlette.requests import Request

from ..fresh_reads import BALANCE, fresh
from ..responses import JSONResponse
from .numbers import ZERO, atoms_to_amount
from .params import read, signed
from .public import MAX_QUANTITY


async def coins(request: Request) -> JSONResponse:
    """Every asset with the account's balance, one network each (the exchange's own ledger)."""
    params, owner = await signed(request)
    params.done()
    assets = request.app.state.feeds.assets
    await fresh(request, owner, BALANCE)
    held = {row.asset: row for row in await request.app.state.store.rows("balances", owner)}
    answer = []
    for symbol, asset in sorted(assets.items()):
        row = held.get(symbol)
        atom = atoms_to_amount(asset, 1)
        answer.append({
            "coin": symbol, "name": symbol, "depositAllEnable": True, "withdrawAllEnable": True, "trading": True,
            "free": atoms_to_amount(asset, row.available) if row else ZERO,
            "locked": atoms_to_amount(asset, row.held) if row else ZERO,
            "freeze": ZERO, "withdrawing": ZERO, "ipoing": ZERO, "ipoable": ZERO, "storage": ZERO,
            "isLegalMoney": False,
            "networkList": [{
                "network": symbol, "coin": symbol, "name": symbol, "isDefault": True,
                "depositEnable": True, "withdrawEnable": True, "withdrawIntegerMultiple": atom,
                "withdrawFee": ZERO, "withdrawMin": atom, "withdrawMax": MAX_QUANTITY,
                "minConfirm": 0, "unLockConfirm": 0, "sameAddress": False, "resetAddressStatus": False,
                "depositDesc": "", "withdrawDesc": "", "specialTips": "", "busy": False,
            }],
        })
    return JSONResponse(answer)


async def margin_pairs(request: Request) -> JSONResponse:
    """Cross and isolated margin pairs: none, margin is not offered."""
    await read(request)  # any parameters (a symbol): the answer is the same
    return JSONResponse([])


async def futures_exchange_info(request: Request) -> JSONResponse:
    """USD-M and COIN-M futures: no markets."""
    (await read(request))[0].done()
    return JSONResponse({"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [],
                         "exchangeFilters": [], "assets": [], "symbols": []})
