"""Own notifications: the list (newest first, paged, unread only if asked), the unread count, and
marking one or all read. The notifier (streams/notifier.py) makes them; the recorder keeps them.

A notification is read if it was marked read itself, or is at or before the account's "read
through" id, which marking all read moves to the newest: one write however many there are.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from schemas.vocabulary import NOTIFICATION_KINDS, SECURITY_KINDS

from .errors import bad_request, not_found
from .inputs import account, json_body, limit
from .responses import JSONResponse

NOTIFICATION_ID = re.compile(r"[0-9]{13}-[A-Za-z0-9_.:-]{1,100}")
UNREAD_SCAN = 1000  # the unread count looks this far back; past it, it says "more"
FIRST = "9" * 13  # a cursor above every id


def _view(row, read_through: str) -> dict:
    return {"id": row.id, "kind": row.kind, "time": row.ts, "text": row.text,
            "order_id": None if row.order_id is None else str(row.order_id), "market": row.market,
            "asset": row.asset, "reference": row.reference, "read": bool(row.read) or row.id <= read_through}


async def _read_through(store, owner: str) -> str:
    row = await store.one("notifications_read_through", owner)
    return row.id if row is not None else ""


def _id(value: str | None, what: str) -> str:
    if value is None or not NOTIFICATION_ID.fullmatch(value):
        raise bad_request(f"{what} must be a notification id")
    return value


async def notifications(request: Request) -> JSONResponse:
    owner, size = await account(request), limit(request, 50, 200)
    unread_only = request.query_params.get("unread", "false")
    if unread_only not in ("true", "false"):
        raise bad_request("unread must be true or false", field="unread")
    before = request.query_params.get("cursor")
    before = FIRST if before is None else _id(before, "cursor")
    store = request.app.state.store
    read_through = await _read_through(store, owner)
    items: list[dict] = []
    scanned, more = 0, True
    while more and len(items) < size and scanned < UNREAD_SCAN:
        rows = await store.rows("notifications_before", owner, before, size)
        more, scanned = len(rows) == size, scanned + len(rows)
        for n, row in enumerate(rows, 1):
            before = row.id
            view = _view(row, read_through)
            if not (unread_only == "true" and view["read"]):
                items.append(view)
                if len(items) == size:
                    more = more or n < len(rows)
                    break
    return JSONResponse({"items": items, "next": before if more else None})


async def unread_count(request: Request) -> JSONResponse:
    owner = await account(request)
    store = request.app.state.store
    read_through = await _read_through(store, owner)
    rows = await store.rows("notifications_before", owner, FIRST, UNREAD_SCAN)
    unread = [row for row in rows if not row.read and row.id > read_through]
    return JSONResponse({"unread": len(unread), "more": len(rows) == UNREAD_SCAN and len(unread) == UNREAD_SCAN})


async def mark_read(request: Request) -> JSONResponse:
    owner = await account(request)
    notification_id = _id(request.path_params["notification_id"], "the path")
    store = request.app.state.store
    if await store.one("notification", owner, notification_id) is None:
        raise not_found("no such notification")  # another account's looks exactly like a missing one
    await store.rows("mark_notification_read", owner, notification_id)
    return JSONResponse({"id": notification_id, "read": True})


async def mark_all_read(request: Request) -> JSONResponse:
    owner = await account(request)
    store = request.app.state.store
    newest = await store.one("notifications_before", owner, FIRST, 1)
    if newest is not None and newest.id > await _read_through(store, owner):
        await store.rows("set_notifications_read_through", owner, newest.id)
    return JSONResponse({"read_through": None if newest is None else newest.id})


async def preferences(request: Request) -> JSONResponse:
    owner = await account(request)
    return JSONResponse({"email": await _email_choices(request.app.state.store, owner)})


async def set_preferences(request: Request) -> JSONResponse:
    """PUT {"email": {kind: true|false, ...}}: the kinds named change, the others stay."""
    owner = await account(request)
    body = await json_body(request, {"email"})
    choices = body.get("email")
    if not isinstance(choices, dict) or not choices:
        raise bad_request("email must be an object of notification kinds to true or false", field="email")
    for kind, on in choices.items():
        if kind not in NOTIFICATION_KINDS:
            raise bad_request(f"no notification kind {kind!r}; kinds: {', '.join(NOTIFICATION_KINDS)}", field="email")
        if not isinstance(on, bool):
            raise bad_request(f"email.{kind} must be true or false", field="email")
    store = request.app.state.store
    for kind, on in choices.items():
        await store.rows("set_notification_preference", owner, kind, on)
    return JSONResponse({"email": await _email_choices(store, owner)})


async def _email_choices(store, owner: str) -> dict[str, bool]:
    chosen = {row.kind: row.email for row in await store.rows("notification_preferences", owner)}
    return {kind: chosen.get(kind, kind in SECURITY_KINDS) for kind in NOTIFICATION_KINDS}
