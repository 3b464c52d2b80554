"""The words the exchange's records carry, defined once: command kinds, order statuses and the
reasons a command is refused. The stages, the read model, the API and the hub use these names
rather than spelling the strings themselves; clients and outside consumers see the strings.
"""

from __future__ import annotations

# -- command kinds: the record names of a Command's `body` union (schemas/avro/exchange.Command.avsc)

PLACE = "exchange.PlaceOrder"
CANCEL = "exchange.CancelOrder"
CANCEL_ALL = "exchange.CancelAll"
DEPOSIT = "exchange.Deposit"
WITHDRAW = "exchange.Withdraw"
SETTLE_WITHDRAWAL = "exchange.SettleWithdrawal"
ORDER_COMMANDS = (PLACE, CANCEL, CANCEL_ALL)  # what the accounts stage forwards to a market's book
MONEY = (DEPOSIT, WITHDRAW, SETTLE_WITHDRAWAL)  # what it answers itself


def result_kind(command_kind: str) -> str:
    """A command result's `kind`: its command's record name without the namespace."""
    return command_kind.split(".")[-1]


# -- order statuses (exchange.OrderStatus)

NEW = "NEW"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
REJECTED = "REJECTED"
OPEN_STATUSES = (NEW, PARTIALLY_FILLED)  # the order rests on its book
ENDED_STATUSES = (FILLED, CANCELED, EXPIRED, REJECTED)
WITH_REASON = (REJECTED, EXPIRED)  # statuses whose update says why

# -- reasons a command is refused (CommandResult.reason, OrderUpdate.reason)

UNKNOWN_MARKET = "unknown_market"
MARKET_HALTED = "market_halted"
UNKNOWN_ASSET = "unknown_asset"
INVALID_AMOUNT = "invalid_amount"
INVALID_ORDER = "invalid_order"
BELOW_MIN_NOTIONAL = "below_min_notional"
MARKET_BUY_NEEDS_FUNDS = "market_buy_needs_quote_quantity"
INSUFFICIENT_FUNDS = "insufficient_funds"
DUPLICATE_ORDER_ID = "duplicate_order_id"
DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
TOO_MANY_WITHDRAWALS = "too_many_pending_withdrawals"
UNKNOWN_WITHDRAWAL = "unknown_withdrawal"
WITHDRAWAL_MISMATCH = "withdrawal_mismatch"

# -- notification kinds (exchange.Notification.kind)

ORDER_FILLED = "order_filled"
ORDER_PARTIALLY_FILLED = "order_partially_filled"
ORDER_CANCELED = "order_canceled"  # by the exchange, not its owner
DEPOSIT_CREDITED = "deposit"
WITHDRAWAL_COMPLETED = "withdrawal_completed"
WITHDRAWAL_FAILED = "withdrawal_failed"
SIGNED_IN = "login"
PASSWORD_CHANGED = "password_changed"
API_KEY_CREATED = "api_key_created"
API_KEY_REVOKED = "api_key_revoked"
SIGNED_OUT = "signed_out"  # every session signed out
SECURITY_KINDS = (SIGNED_IN, PASSWORD_CHANGED, API_KEY_CREATED, API_KEY_REVOKED, SIGNED_OUT)
NOTIFICATION_KINDS = (ORDER_FILLED, ORDER_PARTIALLY_FILLED, ORDER_CANCELED, DEPOSIT_CREDITED, WITHDRAWAL_COMPLETED,
                      WITHDRAWAL_FAILED, *SECURITY_KINDS)


def notification_id(ts_ms: int, about: str) -> str:
    """The event's time (13 digits) then what it was about: ids sort by time, and one event makes one id."""
    return f"{ts_ms:013d}-{about}"
