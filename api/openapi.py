"""GET /openapi.json: the OpenAPI 3 document of what the server does (built from app.ROUTES)."""

from __future__ import annotations

from starlette.requests import Request

from exchange import order_rules
from schemas.vocabulary import NOTIFICATION_KINDS

from . import withdrawals
from .responses import JSONResponse

DECIMAL = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "field": {"type": "string", "description": "the input field that caused the error"}}}}}
ORDER = {"type": "object", "properties": {
    "order_id": {"type": "string"}, "client_order_id": {"type": ["string", "null"]}, "market": {"type": "string"},
    "side": {"type": "string", "enum": ["buy", "sell"]}, "type": {"type": ["string", "null"]},
    "time_in_force": {"type": ["string", "null"]}, "post_only": {"type": "boolean"},
    "price": {"type": ["string", "null"]}, "quantity": {"type": ["string", "null"]},
    "quote_quantity": {"type": ["string", "null"]}, "filled_quantity": {"type": "string"},
    "filled_quote": {"type": "string"}, "status": {"type": "string"}, "reject_reason": {"type": ["string", "null"]},
    "created_at": {"type": ["integer", "null"]}, "updated_at": {"type": ["integer", "null"]}}}
PLACE_RULES = "; ".join(
    f"a {kind} {side} order needs {' and '.join(rule['needs'])} and takes no {' or '.join(rule['refuses'])}"
    for (kind, side), rule in order_rules.FIELDS.items()) + "; post_only is for GTC limit orders only"
PLACE = {"type": "object", "required": ["market", "side"], "additionalProperties": False,
         "description": f"Amounts are decimal strings on the market's grid. {PLACE_RULES}.", "properties": {
    "market": {"type": "string"}, "side": {"type": "string", "enum": ["buy", "sell"]},
    "type": {"type": "string", "enum": ["limit", "market"]},
    "time_in_force": {"type": "string", "enum": ["GTC", "IOC", "FOK"]},
    "price": DECIMAL, "quantity": DECIMAL, "quote_quantity": DECIMAL, "post_only": {"type": "boolean"},
    "client_order_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,36}$"}}}
SIGNUP = {"type": "object", "required": ["username", "email", "password"], "additionalProperties": False,
          "properties": {"username": {"type": "string"}, "email": {"type": "string"},
                         "password": {"type": "string", "minLength": 8}}}
LOGIN = {"type": "object", "required": ["email", "password"], "additionalProperties": False,
         "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}
PROFILE = {"type": "object", "required": ["username"], "additionalProperties": False,
           "properties": {"username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,32}$"}}}
PASSWORD = {"type": "object", "required": ["current_password", "new_password"], "additionalProperties": False,
            "properties": {"current_password": {"type": "string"},
                           "new_password": {"type": "string", "minLength": 8}}}
MOVE = {"type": "object", "required": ["asset", "amount"], "additionalProperties": False,
        "properties": {"asset": {"type": "string"}, "amount": DECIMAL, "account": {"type": "string"}}}
ADDRESS = {"type": "string", "pattern": f"^{withdrawals.ADDRESS.pattern}$"}  # also a settlement's reference
WITHDRAW = {"type": "object", "required": ["asset", "amount", "address"], "additionalProperties": False,
            "properties": {"asset": {"type": "string"}, "amount": DECIMAL,
                           "address": ADDRESS}}
SETTLE = {"type": "object", "additionalProperties": False,
          "properties": {"reference": ADDRESS}}
WITHDRAWAL = {"type": "object", "required": ["id", "asset", "amount", "address", "status", "requested_at"],
              "properties": {"id": {"type": "string"}, "asset": {"type": "string"}, "amount": DECIMAL,
                             "address": {"type": "string"}, "account": {"type": "string"},
                             "status": {"type": "string", "enum": ["pending", "processing", "completed", "failed"]},
                             "requested_at": {"type": "integer"}, "settled_at": {"type": ["integer", "null"]},
                             "reference": {"type": ["string", "null"]}}}
PREFERENCES = {"type": "object", "required": ["email"], "additionalProperties": False, "properties": {
    "email": {"type": "object", "minProperties": 1, "additionalProperties": False,
              "properties": {kind: {"type": "boolean"} for kind in NOTIFICATION_KINDS}}}}
STATEMENT = {"type": "object", "required": ["from", "to", "assets", "trades"], "properties": {
    "from": {"type": "integer"}, "to": {"type": "integer"}, "trades": {"type": "array"},
    "assets": {"type": "array", "items": {"type": "object", "properties": {
        name: DECIMAL if name not in ("asset", "other") else {"type": "string"}
        for name in ("asset", "opening", "deposits", "withdrawals", "bought", "sold", "fees", "other", "closing")}}}}}
UNREAD = {"type": "object", "required": ["unread", "more"],
          "properties": {"unread": {"type": "integer"}, "more": {"type": "boolean"}}}
LIST = {"type": "object", "required": ["items", "next"],
        "properties": {"items": {"type": "array"}, "next": {"type": ["string", "null"]}}}

# (method, path) -> (summary, request body schema or None, success status, response schema, needs a token)
OPERATIONS = {
    ("post", "/api/v1/auth/signup"): ("Create an account", SIGNUP, "201", {"type": "object"}, False),
    ("post", "/api/v1/auth/login"): ("Get a token", LOGIN, "200", {"type": "object", "required": ["token"]}, False),
    ("get", "/api/v1/auth/me"): ("The caller's account", None, "200", {"type": "object"}, True),
    ("patch", "/api/v1/auth/me"): ("Change the caller's username", PROFILE, "200", {"type": "object"}, True),
    ("post", "/api/v1/auth/password"): ("Change the caller's password: every older token is signed out, a new one "
                                        "comes back", PASSWORD, "200", {"type": "object", "required": ["token"]}, True),
    ("post", "/api/v1/auth/sign-out"): ("Sign out everywhere: every token of the account issued so far stops working",
                                        None, "200", {"type": "object", "required": ["signed_out_before"]}, True),
    ("post", "/api/v1/api-keys"): ("Create an API key; its secret is shown once", {"type": "object"}, "201",
                                   {"type": "object"}, True),
    ("get", "/api/v1/api-keys"): ("Own API keys", None, "200", LIST, True),
    ("delete", "/api/v1/api-keys/{key_id}"): ("Revoke an API key", None, "200", {"type": "object"}, True),
    ("get", "/api/v1/assets"): ("Assets", None, "200", LIST, False),
    ("get", "/api/v1/markets"): ("Markets", None, "200", LIST, False),
    ("get", "/api/v1/markets/{market}"): ("One market", None, "200", {"type": "object"}, False),
    ("post", "/api/v1/admin/assets"): ("Define an asset (admin)", {"type": "object", "required": [
        "symbol", "decimals"]}, "201", {"type": "object"}, True),
    ("post", "/api/v1/admin/markets"): ("Define a market (admin)", {"type": "object", "required": [
        "symbol", "base", "quote", "tick", "step"]}, "201", {"type": "object"}, True),
    ("post", "/api/v1/admin/markets/{market}/halt"): ("Halt a market (admin)", None, "200", {"type": "object"}, True),
    ("post", "/api/v1/admin/markets/{market}/resume"): ("Resume a market (admin)", None, "200", {"type": "object"},
                                                        True),
    ("get", "/api/v1/balances"): ("Own balances", None, "200", LIST, True),
    ("post", "/api/v1/wallet/deposits"): ("Deposit (admin, or the development faucet)", MOVE, "201",
                                          {"type": "object"}, True),
    ("post", "/api/v1/wallet/withdrawals"): ("Ask to withdraw: 201 once the funds are held (processing), 202 if "
                                             "that takes longer", WITHDRAW, "201", WITHDRAWAL, True),
    ("get", "/api/v1/wallet/withdrawals"): ("Own withdrawals, newest first", None, "200", LIST, True),
    ("get", "/api/v1/wallet/withdrawals/{withdrawal_id}"): ("One own withdrawal", None, "200", WITHDRAWAL, True),
    ("get", "/api/v1/admin/withdrawals"): ("Withdrawals of an asset still processing, oldest first (admin)", None,
                                           "200", LIST, True),
    ("post", "/api/v1/admin/withdrawals/{withdrawal_id}/complete"): (
        "The funds were sent: they leave the account (admin)", SETTLE, "200", WITHDRAWAL, True),
    ("post", "/api/v1/admin/withdrawals/{withdrawal_id}/fail"): (
        "The funds could not be sent: they are released (admin)", SETTLE, "200", WITHDRAWAL, True),
    ("get", "/api/v1/wallet/ledger"): ("Own ledger, newest first", None, "200", LIST, True),
    ("post", "/api/v1/orders"): ("Place an order: 201 with the outcome, 202 if it takes longer", PLACE, "201",
                                 ORDER, True),
    ("get", "/api/v1/orders"): ("Own open orders", None, "200", LIST, True),
    ("delete", "/api/v1/orders"): ("Cancel all own orders in a market", None, "202", {"type": "object"}, True),
    ("get", "/api/v1/orders/history"): ("Own orders, newest first", None, "200", LIST, True),
    ("get", "/api/v1/orders/{order_id}"): ("One own order", None, "200", ORDER, True),
    ("delete", "/api/v1/orders/{order_id}"): ("Cancel one own order", None, "200", ORDER, True),
    ("get", "/api/v1/my/trades"): ("Own fills, newest first", None, "200", LIST, True),
    ("get", "/api/v1/notifications"): ("Own notifications, newest first (unread=true: unread only)", None, "200",
                                       LIST, True),
    ("get", "/api/v1/notifications/unread-count"): ("How many own notifications are unread", None, "200",
                                                    UNREAD, True),
    ("get", "/api/v1/admin/reports/markets"): ("Each market's business over a UTC day (by=hour: each hour of it; "
                                               "format=csv: as CSV)", None,
                                               "200", {"type": "object"}, True),
    ("get", "/api/v1/admin/reports/assets"): ("Every asset's holdings, fee income, deposits, withdrawals and their "
                                              "difference (format=csv: as CSV)", None, "200", {"type": "object"},
                                              True),
    ("get", "/api/v1/statements"): ("Own statement for [from, to): per asset opening, movements and closing, "
                                    "and the trades (format=csv: the assets as CSV)", None, "200", STATEMENT, True),
    ("get", "/api/v1/notifications/preferences"): ("Which notification kinds go by e-mail", None, "200",
                                                   PREFERENCES, True),
    ("put", "/api/v1/notifications/preferences"): ("Turn e-mail on or off for notification kinds", PREFERENCES,
                                                   "200", PREFERENCES, True),
    ("post", "/api/v1/notifications/read-all"): ("Mark every own notification read", None, "200",
                                                 {"type": "object"}, True),
    ("post", "/api/v1/notifications/{notification_id}/read"): ("Mark one own notification read", None, "200",
                                                               {"type": "object"}, True),
    ("get", "/api/v1/depth"): ("Order book snapshot", None, "200", {"type": "object", "required": ["last_update_id"]},
                               False),
    ("get", "/api/v1/trades"): ("Recent trades", None, "200", LIST, False),
    ("get", "/api/v1/ticker"): ("Rolling 24 h ticker", None, "200", {"type": "object"}, False),
    ("get", "/api/v1/klines"): ("Candles", None, "200", LIST, False),
    ("get", "/healthz"): ("Liveness", None, "200", {"type": "object"}, False),
    ("get", "/readyz"): ("Kafka and Cassandra reachable", None, "200", {"type": "object"}, False),
    ("get", "/metrics"): ("Prometheus metrics", None, "200", {"type": "string"}, False),
    ("get", "/openapi.json"): ("This document", None, "200", {"type": "object"}, False),
}
QUERY = {"market": {"type": "string"}, "asset": {"type": "string"}, "limit": {"type": "integer", "minimum": 1},
         "cursor": {"type": "string"}, "from": {"type": "integer", "minimum": 0},
         "to": {"type": "integer", "minimum": 0}, "format": {"type": "string", "enum": ["json", "csv"]},
         "unread": {"type": "string", "enum": ["true", "false"]},
         "day": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
         "by": {"type": "string", "enum": ["day", "hour"]},
         "interval": {"type": "string", "enum": ["1m", "5m", "15m", "1h", "4h", "1d"]}}
QUERIES = {"/api/v1/depth": ["market", "limit"], "/api/v1/trades": ["market", "limit"], "/api/v1/ticker": ["market"],
           "/api/v1/klines": ["market", "interval", "limit"], "/api/v1/orders": ["market"],
           "/api/v1/orders/history": ["market", "limit", "cursor"], "/api/v1/my/trades": ["market", "limit", "cursor"],
           "/api/v1/wallet/ledger": ["limit", "cursor"],
           "/api/v1/notifications": ["unread", "limit", "cursor"], "/api/v1/statements": ["from", "to", "format"],
           "/api/v1/wallet/withdrawals": ["limit", "cursor"],
           "/api/v1/admin/withdrawals": ["asset", "limit", "cursor"],
           "/api/v1/admin/reports/markets": ["day", "by", "format"], "/api/v1/admin/reports/assets": ["format"]}

REQUIRED = {("get", "/api/v1/statements", "from"), ("get", "/api/v1/depth", "market"),
            ("get", "/api/v1/trades", "market"), ("get", "/api/v1/ticker", "market"),
            ("get", "/api/v1/klines", "market"), ("delete", "/api/v1/orders", "market"),
            ("get", "/api/v1/admin/withdrawals", "asset")}
OPTIONAL_BODY = ("/complete", "/fail")  # an operator may give no reference


def build() -> dict:
    paths: dict[str, dict] = {}
    for (method, path), (summary, body, status, schema, secured) in OPERATIONS.items():
        operation: dict = {"summary": summary, "responses": {
            status: {"description": "success", "content": {"application/json": {"schema": schema}}},
            "default": {"description": "an error", "content": {"application/json": {"schema": ERROR}}}}}
        if body is not None:
            operation["requestBody"] = {"required": not path.endswith(OPTIONAL_BODY),
                                        "content": {"application/json": {"schema": body}}}
        if secured:
            operation["security"] = [{"bearer": []}]
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                      for name in ("market", "order_id", "key_id", "withdrawal_id", "notification_id")
                      if "{" + name + "}" in path]
        if method in ("get", "delete"):
            parameters += [{"name": n, "in": "query", "required": (method, path, n) in REQUIRED, "schema": QUERY[n]}
                           for n in QUERIES.get(path, [])]
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(path, {})[method] = operation
    return {"openapi": "3.1.0", "info": {"title": "kafka-exchange REST API", "version": "1.0.0"},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
            "paths": paths}


DOCUMENT = build()


async def document(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)
