"""The records on the exchange's topics and in its tables, as the codec decodes them.

Generated from schemas/avro by schemas/typegen.py (`make records`); do not edit.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class AccountHolding(TypedDict):
    """The asset-reports agent's table row for one account and asset (not on a topic of its own)."""

    account: str
    asset: str
    total: int
    offset: int
    counted: int


class AccountSettlements(TypedDict):
    """One account's settlements from one batch of a market's commands, in sequence order."""

    account: str
    items: list[Settlement]


class AccountState(TypedDict):
    """Accounts table row `<account>`: balances and what makes each command decided once and each
    settlement applied once. A command's decision (last_command_offset, and whether it was refused) is
    made durable before its outputs are sent, and a replay makes the outputs again from the command and
    the recorded verdict instead of deciding again. Open orders' holds are rows of their own
    (exchange.Hold), written before this row; withdrawals waiting to be completed are held here, in
    `withdrawals`."""

    account: str
    balances: dict[str, AssetBalance]
    last_command_offset: NotRequired[int]
    settled_seq: NotRequired[dict[str, int]]
    deposited: NotRequired[dict[str, int]]
    undelivered_from: NotRequired[int]
    refused: NotRequired[dict[str, str]]
    released: NotRequired[list[ReleasedHold]]
    withdrawals: NotRequired[dict[str, PendingWithdrawal]]


class Asset(TypedDict):
    """Topic exchange.assets (compacted), key symbol."""

    symbol: str
    decimals: int
    ts: int


class AssetBalance(TypedDict):
    available: int
    held: int


class AssetReport(TypedDict):
    """Topic exchange.asset-reports, key the partition number: every asset's money over the accounts of one
    partition of exchange.balances and exchange.command-results, as a whole (a later one replaces it).
    Summed over the partitions, an asset's holdings equal its deposits less its withdrawals."""

    partition: int
    assets: list[AssetTotals]
    balances_offset: int
    results_offset: int
    ts: int


class AssetTotals(TypedDict):
    """One asset's money over the accounts of one partition of exchange.balances, in the asset's atoms."""

    asset: str
    holdings: int
    fee_income: int
    deposits: int
    withdrawals: int


class Balance(TypedDict):
    """Amounts in the asset's atoms."""

    asset: str
    available: int
    held: int


class BalanceUpdate(TypedDict):
    """Topic exchange.balances, key account: the new balances of the assets a batch changed."""

    account: str
    balances: list[Balance]
    ts: int
    settlement_offset: NotRequired[int | None]


class BookRow(TypedDict):
    """Value of the matching stage's table (changelog exchange-matching-book-changelog). Key o:<order_id>
    holds an order (null once it ended) and its image before the batch that wrote it, so a batch cut
    short by a crash is rolled back. Key m:<market> is written last in each batch: written_seq is the
    market's committed sequence and watermarks the last exchange.orders message applied per source
    partition."""

    market: str
    written_seq: int
    order: NotRequired[RestingOrder | None]
    before: NotRequired[RestingOrder | None]
    watermarks: NotRequired[dict[str, int]]


class CancelAll(TypedDict):
    market: str


class CancelOrder(TypedDict):
    order_id: int
    market: str


class Candle(TypedDict):
    """Topic exchange.candles, key market: a candle after the trades of a batch changed or closed it.
    Prices in ticks, volume in quantity steps, quote_volume in quote atoms; times in ms since the epoch,
    windows aligned to UTC."""

    market: str
    interval: str
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    taker_buy_volume: NotRequired[int]
    taker_buy_quote_volume: NotRequired[int]
    trade_count: int
    first_trade_id: int
    last_trade_id: int
    closed: bool


class ClientOrder(TypedDict):
    """Accounts table row `<account>#c:<client order id>`: the order that took a client order id. The id is
    free again once that order's hold is released."""

    order_id: int
    command_offset: int


class Command(TypedDict):
    """One thing an account asks for. command_id is unique; ts is ms since the epoch, set by the API.
    reply_to is the exchange.replies partition of the API process waiting for the outcome (null: nobody
    waits)."""

    command_id: str
    account: str
    ts: int
    body: tuple[str, PlaceOrder | CancelOrder | CancelAll | Deposit | Withdraw | SettleWithdrawal]
    reply_to: NotRequired[int | None]


class CommandBatch(TypedDict):
    """Topic exchange.commands. Every command's account maps to the message's partition."""

    commands: list[Command]


class CommandResult(TypedDict):
    """Topic exchange.command-results, key account: a command that was refused, or a deposit, withdrawal
    request or withdrawal settlement that was accepted. Those carry their asset and amount, so the
    ledger and the withdrawals tables can be written from this topic alone."""

    command_id: str
    account: str
    accepted: bool
    reason: NotRequired[str | None]
    order_id: NotRequired[int | None]
    ts: int
    kind: NotRequired[str | None]
    asset: NotRequired[str | None]
    amount: NotRequired[int | None]
    reference: NotRequired[str | None]
    withdrawal_id: NotRequired[str | None]
    completed: NotRequired[bool | None]
    existing_order_id: NotRequired[int | None]


class DeadLetter(TypedDict):
    """Topic exchange.dead-letters: an input message a stage could not use, kept with the reason."""

    topic: str
    partition: int
    offset: int
    key: NotRequired[bytes | None]
    value: NotRequired[bytes | None]
    reason: str
    ts: int


class Deposit(TypedDict):
    """amount in the asset's atoms"""

    asset: str
    amount: int
    reference: NotRequired[str]


class DepthSnapshot(TypedDict):
    """A market's whole book by price level after update last_update_id (Cassandra
    depth_snapshots.snapshot). Bids highest first, asks lowest first; prices in ticks, quantities in
    steps."""

    market: str
    last_update_id: int
    bids: list[PriceLevel]
    asks: list[PriceLevel]


class DepthUpdate(TypedDict):
    """Topic exchange.depth, key market. Level changes caused by the events
    first_update_id..last_update_id; consecutive updates of a market are contiguous, so a gap means a
    lost update. Now and then the change is followed by the whole book (full)."""

    market: str
    first_update_id: int
    last_update_id: int
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    ts: int
    full: NotRequired[bool]


class Hold(TypedDict):
    """Accounts table row `<account>#<order id>`: the funds an open order holds. Rows made by a command the
    account row does not count yet (command_offset above its last_command_offset) were cut short by a
    crash and do not exist. settled_seq is the last settlement applied to this hold. An ended order's
    hold stays, released, until the account's next write."""

    order_id: int
    market: str
    asset: str
    amount: int
    client_order_id: NotRequired[str | None]
    command_offset: int
    settled_seq: NotRequired[int]
    released: NotRequired[bool]


class Market(TypedDict):
    """Topic exchange.markets (compacted), key symbol. tick and step are decimal strings;
    quote_per_tick_step = quote atoms of 1 tick x 1 step; partition pins the market to a partition of
    exchange.orders."""

    symbol: str
    base: str
    quote: str
    tick: str
    step: str
    quote_per_tick_step: int
    base_per_step: int
    min_notional: NotRequired[int]
    maker_fee_ppm: NotRequired[int]
    taker_fee_ppm: NotRequired[int]
    status: NotRequired[MarketStatus]
    partition: int
    ts: int


class MarketCommandBatch(TypedDict):
    """Topic exchange.orders: commands the accounts stage accepted (funds held), for one market.
    (source_partition, source_offset) name the exchange.commands message they came from; matching
    applies each pair once."""

    market: str
    source_partition: int
    source_offset: int
    commands: list[Command]


class MarketDayReport(TypedDict):
    """Topic exchange.market-reports, key market: a market's business over one UTC day, or one hour of it,
    so far, as a whole (a later one replaces it). Amounts in the market's steps and quote atoms."""

    market: str
    day: str
    volume: int
    quote_volume: int
    trades: int
    fee_income: int
    traders: list[str]
    orders_placed: int
    orders_canceled: int
    last_trade_id: int
    last_seq: int
    hour: NotRequired[int | None]


MarketStatus = Literal["open", "halted"]


class MinuteBar(TypedDict):
    """Marketdata table row `<market>#<minute>`: one minute of a market's trades, from which candles and
    the ticker are built. last_trade_id makes a replayed trade count once."""

    market: str
    minute: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    taker_buy_volume: NotRequired[int]
    taker_buy_quote_volume: NotRequired[int]
    trade_count: int
    first_trade_id: int
    last_trade_id: int


class Notification(TypedDict):
    """Topic exchange.notifications, key account: something that happened to an account, told to its owner.
    The id is derived from the event, so an event read twice makes the same notification."""

    id: str
    account: str
    kind: str
    ts: int
    text: str
    order_id: NotRequired[int | None]
    market: NotRequired[str | None]
    asset: NotRequired[str | None]
    reference: NotRequired[str | None]


class OrderFill(TypedDict):
    """One fill of an order: trade_id is the trade's (the market's event sequence number), price in ticks,
    quantity in steps, quote and fee (paid by this order's owner, in the quote asset) in quote atoms;
    maker says which side of the trade this order was."""

    trade_id: int
    price: int
    quantity: int
    quote: int
    fee: int
    maker: bool


OrderStatus = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"]


OrderType = Literal["limit", "market"]


class OrderUpdate(TypedDict):
    """An order's state after an event of its market; seq is that event's sequence number. The order's
    terms (type, time_in_force, price, quantity, quote_quantity, post_only, client_order_id, created_ts)
    come with its first update only (NEW, or REJECTED by the book); later updates leave them null. fills
    are the order's fills since its previous update, in trade order (empty for updates written before
    they were carried)."""

    seq: int
    order_id: int
    account: str
    market: str
    side: Side
    status: OrderStatus
    filled_quantity: int
    filled_quote: int
    remaining_quantity: NotRequired[int | None]
    reason: NotRequired[str | None]
    ts: int
    type: NotRequired[OrderType | None]
    time_in_force: NotRequired[TimeInForce | None]
    price: NotRequired[int | None]
    quantity: NotRequired[int | None]
    quote_quantity: NotRequired[int | None]
    post_only: NotRequired[bool | None]
    client_order_id: NotRequired[str | None]
    created_ts: NotRequired[int | None]
    fills: NotRequired[list[OrderFill]]


class OrderUpdateBatch(TypedDict):
    """Topic exchange.order-updates, key market."""

    market: str
    updates: list[OrderUpdate]


class PendingWithdrawal(TypedDict):
    asset: str
    amount: int


class PlaceOrder(TypedDict):
    """Integers on the market's grid: price in ticks, quantity in steps, quote_quantity in quote atoms."""

    order_id: int
    client_order_id: NotRequired[str | None]
    market: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    post_only: NotRequired[bool]
    price: NotRequired[int | None]
    quantity: NotRequired[int | None]
    quote_quantity: NotRequired[int | None]
    stp: NotRequired[SelfTradePrevention]


class PriceLevel(TypedDict):
    """Total resting quantity (steps) at a price (ticks); 0 means the level is gone."""

    price: int
    quantity: int


class ReleasedHold(TypedDict):
    order_id: int
    client_order_id: NotRequired[str | None]


class Reply(TypedDict):
    """Topic exchange.replies, partition named by the commands' reply_to: the outcomes an API process waits
    for. A stage's take sends one per reply partition: the command results of commands naming it, and
    every order update of the take for the orders those commands placed or canceled. A copy for the
    waiting process only; the exchange.command-results and exchange.order-updates topics stay the
    record."""

    results: NotRequired[list[CommandResult]]
    updates: NotRequired[list[OrderUpdate]]


class RestingOrder(TypedDict):
    """A resting order as the engine exports it; rank is its arrival (time priority) within the market."""

    order_id: int
    account: str
    side: Side
    price: int
    quantity: int
    remaining: int
    filled_quantity: int
    filled_quote: int
    ts: int
    rank: int


SelfTradePrevention = Literal["expire_taker", "expire_maker", "expire_both"]


class SettleWithdrawal(TypedDict):
    """An operator's answer to a withdrawal the account holds funds for: completed (the funds left the
    exchange) or failed (they are released back to available). It names the withdrawal's asset and
    amount too, so its result can be made again from the command alone; the accounts stage refuses it
    unless they match what is held."""

    withdrawal_id: str
    asset: str
    amount: int
    completed: bool
    reference: NotRequired[str]


class Settlement(TypedDict):
    """seq is the market event that caused it; per account and market the seqs only grow. base in base
    atoms, quote and fee in quote atoms."""

    seq: int
    kind: SettlementKind
    order_id: int
    side: Side
    base: NotRequired[int]
    quote: NotRequired[int]
    fee: NotRequired[int]


class SettlementBatch(TypedDict):
    """Topic exchange.settlements, key market, in the partition of the accounts it carries: what one batch
    of a market's commands did to those accounts. One message per account partition, not per account,
    because a message costs a stream stage far more than its size does."""

    market: str
    accounts: list[AccountSettlements]


SettlementKind = Literal["fill", "release", "fee"]


Side = Literal["buy", "sell"]


class SignOut(TypedDict):
    """Topic exchange.sign-outs, key account (compacted): every token of the account issued before
    before_ms is void, in every API process and hub. Sent when its password changes or it signs out
    everywhere; API keys are revoked on their own."""

    account: str
    before_ms: int
    reason: SignOutReason


SignOutReason = Literal["password_changed", "signed_out"]


class Ticker(TypedDict):
    """Topic exchange.tickers, key market: the rolling 24 h statistics after a batch of trades; the window
    is the 1,440 minutes ending with the latest trade's minute."""

    market: str
    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    last: int
    volume: int
    quote_volume: int
    trade_count: int
    first_trade_id: int
    last_trade_id: int


TimeInForce = Literal["GTC", "IOC", "FOK"]


class Trade(TypedDict):
    """A fill at the maker's price. trade_id is the market's event sequence number. quote excludes fees."""

    trade_id: int
    market: str
    price: int
    quantity: int
    quote: int
    taker_side: Side
    maker_order_id: int
    maker_account: str
    taker_order_id: int
    taker_account: str
    maker_fee: int
    taker_fee: int
    ts: int


class TradeBatch(TypedDict):
    """Topic exchange.trades, key market."""

    market: str
    trades: list[Trade]


class Withdraw(TypedDict):
    """amount in the asset's atoms"""

    asset: str
    amount: int
    reference: NotRequired[str]
