"""The topic catalogue: every topic the exchange reads or writes, with its key, record and settings.

Keys are plain UTF-8 (an account id or a market symbol). Market-keyed topics are partitioned by
the market's pinned `partition` (stored in its exchange.markets record), not by hashing, so
adding partitions never moves a market by surprise. Account-keyed topics use Kafka's default
partitioner (murmur2 of the key), the same in every client.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from aiokafka.partitioner import murmur2

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    key: str  # what the key holds
    record: str  # the one Avro record type of its values
    partitioned: bool  # True: the exchange's partition count; False: one partition
    compacted: bool = False
    count: int | None = None  # a partition count of its own, whatever the exchange's
    retention_ms: int = 7 * DAY_MS
    doc: str = ""

    def config(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}

    def partitions(self, exchange_partitions: int) -> int:
        if self.count is not None:
            return self.count
        return exchange_partitions if self.partitioned else 1


ASSETS = Topic("exchange.assets", "asset symbol", "exchange.Asset", False, compacted=True,
               doc="asset definitions; the latest record per symbol is current")
MARKETS = Topic("exchange.markets", "market symbol", "exchange.Market", False, compacted=True,
                doc="market definitions, status (open/halted) and pinned partition")
SIGN_OUTS = Topic("exchange.sign-outs", "account", "exchange.SignOut", False, compacted=True,
                  doc="tokens of an account issued before a time are void: a password change or a sign-out")
COMMANDS = Topic("exchange.commands", "account", "exchange.CommandBatch", True,
                 doc="what accounts ask for: place, cancel, cancel all, deposit, withdraw")
ORDERS = Topic("exchange.orders", "market", "exchange.MarketCommandBatch", True,
               doc="commands whose funds are held, on their way to the market's book")
SETTLEMENTS = Topic("exchange.settlements", "market", "exchange.SettlementBatch", True,
                    doc="fills, releases of holds and fees, back to the accounts; in the accounts' partition")
TRADES = Topic("exchange.trades", "market", "exchange.TradeBatch", True, retention_ms=30 * DAY_MS,
               doc="every trade, in sequence per market")
ORDER_UPDATES = Topic("exchange.order-updates", "market", "exchange.OrderUpdateBatch", True,
                      doc="order state changes: NEW, PARTIALLY_FILLED, FILLED, CANCELED, REJECTED, EXPIRED")
DEPTH = Topic("exchange.depth", "market", "exchange.DepthUpdate", True, retention_ms=DAY_MS,
              doc="order-book level changes with first/last update ids; now and then the whole book (full)")
BALANCES = Topic("exchange.balances", "account", "exchange.BalanceUpdate", True,
                 doc="new balances of the assets a batch changed")
COMMAND_RESULTS = Topic("exchange.command-results", "account", "exchange.CommandResult", True,
                        retention_ms=DAY_MS, doc="refused commands with a reason; deposits and withdrawals done")
CANDLES = Topic("exchange.candles", "market", "exchange.Candle", True, retention_ms=DAY_MS,
                doc="candles (1m 5m 15m 1h 4h 1d) as trades change or close them")
TICKERS = Topic("exchange.tickers", "market", "exchange.Ticker", True, retention_ms=DAY_MS,
                doc="rolling 24 h ticker per market after each batch of trades")
NOTIFICATIONS = Topic("exchange.notifications", "account", "exchange.Notification", True, retention_ms=30 * DAY_MS,
                      doc="what happened to an account, told to its owner: fills, cancels by the exchange, money")
MARKET_REPORTS = Topic("exchange.market-reports", "market", "exchange.MarketDayReport", True, retention_ms=30 * DAY_MS,
                       doc="each market's business per UTC day so far: volume, trades, fee income, traders, orders")
ASSET_REPORTS = Topic("exchange.asset-reports", "partition", "exchange.AssetReport", True, retention_ms=30 * DAY_MS,
                      doc="each asset's holdings, fee income, deposits and withdrawals over one account partition")
# Each API process owns some of these partitions (a consumer group shares them out) and names one
# in the commands it sends, so it reads the outcomes of its own commands and no one else's. They
# hold nothing durable (the outcome topics are the record), so their count is not tied to the
# exchange's: it bounds how many API processes can wait for outcomes at once.
REPLY_PARTITIONS = 32
REPLIES = Topic("exchange.replies", "market or account", "exchange.Reply", False, count=REPLY_PARTITIONS,
                retention_ms=60 * 60 * 1000,
                doc="outcomes of commands (results, order updates) for the API process that sent them")
DEAD_LETTERS = Topic("exchange.dead-letters", "source topic", "exchange.DeadLetter", False,
                     retention_ms=30 * DAY_MS, doc="input a stage could not decode, with the reason")

CATALOGUE = (ASSETS, MARKETS, SIGN_OUTS, COMMANDS, ORDERS, SETTLEMENTS, TRADES, ORDER_UPDATES, DEPTH, BALANCES,
             COMMAND_RESULTS, CANDLES, TICKERS, NOTIFICATIONS, MARKET_REPORTS, ASSET_REPORTS,
             REPLIES, DEAD_LETTERS)

FEE_ACCOUNT = "exchange-fees"  # the account fees are credited to


@functools.lru_cache(maxsize=1 << 16)  # murmur2 in Python is 4 µs; stages ask per row and message
def account_partition(account: str, partitions: int) -> int:
    """The partition of an account-keyed topic, exactly as Kafka's default partitioner picks it."""
    return (murmur2(account.encode()) & 0x7FFFFFFF) % partitions


def reply_partition(command) -> int | None:
    """The exchange.replies partition a command's outcome goes to, or None: nobody waits, or it
    names a partition the topic does not have (sending there would stall the stage)."""
    reply_to = command.get("reply_to")
    return reply_to if reply_to is not None and 0 <= reply_to < REPLY_PARTITIONS else None
