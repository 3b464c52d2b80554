"""Security events told to the account's owner: a sign-in, a password change, an API key created
or revoked, every session signed out. The API publishes them itself on exchange.notifications
(they happen here, not on the order path), once the event has taken effect; the recorder keeps
them and the hub streams them like the notifier's (streams/notifier.py).

A failed publish is logged, not raised: the event has happened, and refusing the sign-in or the
key because Kafka did not take its notification would be worse than a missing notification.
"""

from __future__ import annotations

import logging
import secrets

from starlette.requests import Request

from exchange.commands import now_ms
from schemas.records import Notification
from schemas.topics import NOTIFICATIONS, account_partition
from schemas.vocabulary import (
    API_KEY_CREATED,
    API_KEY_REVOKED,
    PASSWORD_CHANGED,
    SIGNED_IN,
    SIGNED_OUT,
    notification_id,
)

log = logging.getLogger("exchange.api.security_events")

TEXTS = {
    SIGNED_IN: "Signed in from {address}",
    PASSWORD_CHANGED: "Password changed from {address}; every other session is signed out",
    API_KEY_CREATED: "API key {reference} created from {address}",
    API_KEY_REVOKED: "API key {reference} revoked from {address}",
    SIGNED_OUT: "Every session signed out from {address}",
}


async def tell(request: Request, account: str, kind: str, reference: str | None = None) -> None:
    state = request.app.state
    address = request.client.host if request.client else "an unknown address"
    ts = now_ms()
    note: Notification = {
        "id": notification_id(ts, f"s{secrets.token_hex(6)}"), "account": account, "kind": kind, "ts": ts,
        "text": TEXTS[kind].format(address=address, reference=reference), "order_id": None, "market": None,
        "asset": None, "reference": reference}
    try:
        await state.producer.publish(NOTIFICATIONS, account, note,
                                     account_partition(account, state.settings.partitions))
    except Exception as exc:  # noqa: BLE001 - see the module's note
        log.warning("the %s notification of %s was not published: %s", kind, account, exc,
                    extra={"account": account})
