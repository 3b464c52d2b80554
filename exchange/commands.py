"""Building commands and putting them on `exchange.commands`, batched per partition.

Faust's cost is per Kafka message, not per byte, so commands travel in `exchange.CommandBatch`
messages: every command of one batch belongs to an account of the same partition, which the
accounts stage needs (it owns those accounts). Used by the API, the benchmarks and the tests.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaProducer

from exchange.config import Settings
from schemas.codec import codec
from schemas.records import (
    CancelAll,
    CancelOrder,
    Command,
    Deposit,
    OrderType,
    PlaceOrder,
    SelfTradePrevention,
    SettleWithdrawal,
    Side,
    TimeInForce,
    Withdraw,
)
from schemas.topics import COMMANDS, Topic, account_partition

Body = PlaceOrder | CancelOrder | CancelAll | Deposit | Withdraw | SettleWithdrawal


def now_ms() -> int:
    return int(time.time() * 1000)


def command(account: str, body_name: str, body: Body, ts: int | None = None,
            command_id: str | None = None) -> Command:
    return {"command_id": command_id or uuid.uuid4().hex, "account": account,
            "ts": now_ms() if ts is None else ts, "body": (f"exchange.{body_name}", body)}


def place(account: str, order_id: int, market: str, side: Side, price: int | None, quantity: int | None, *,
          type: OrderType = "limit", time_in_force: TimeInForce = "GTC", post_only: bool = False,
          quote_quantity: int | None = None, client_order_id: str | None = None,
          stp: SelfTradePrevention = "expire_taker", ts: int | None = None) -> Command:
    return command(account, "PlaceOrder", {
        "order_id": order_id, "client_order_id": client_order_id, "market": market, "side": side, "type": type,
        "time_in_force": time_in_force, "post_only": post_only, "price": price, "quantity": quantity,
        "quote_quantity": quote_quantity, "stp": stp}, ts)


def cancel(account: str, order_id: int, market: str, ts: int | None = None) -> Command:
    return command(account, "CancelOrder", {"order_id": order_id, "market": market}, ts)


def cancel_all(account: str, market: str, ts: int | None = None) -> Command:
    return command(account, "CancelAll", {"market": market}, ts)


def deposit(account: str, asset: str, amount: int, reference: str = "") -> Command:
    return command(account, "Deposit", {"asset": asset, "amount": amount, "reference": reference})


def withdraw(account: str, asset: str, amount: int, reference: str = "") -> Command:
    """A withdrawal's id is its command id, made to sort by time so an account's list pages by it."""
    return command(account, "Withdraw", {"asset": asset, "amount": amount, "reference": reference},
                   command_id=time_ordered_id())


def settle_withdrawal(account: str, withdrawal_id: str, asset: str, amount: int, completed: bool,
                      reference: str = "") -> Command:
    return command(account, "SettleWithdrawal", {"withdrawal_id": withdrawal_id, "asset": asset, "amount": amount,
                                                 "completed": completed, "reference": reference})


def time_ordered_id() -> str:
    """32 hex digits like a uuid's: the time in ms, then 80 random bits."""
    return f"{now_ms():012x}{secrets.token_hex(10)}"


def by_partition(commands: list[Command], partitions: int) -> dict[int, list[Command]]:
    """Commands grouped by their account's `exchange.commands` partition, each group in the order
    given: the commands of one message."""
    groups: dict[int, list[Command]] = defaultdict(list)
    for command in commands:
        groups[account_partition(command["account"], partitions)].append(command)
    return groups


class CommandProducer:
    def __init__(self, settings: Settings, linger_ms: int = 0) -> None:
        self.partitions = settings.partitions
        self.producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                         enable_idempotence=True, linger_ms=linger_ms)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def ping(self) -> bool:
        """True if the cluster answers a metadata request."""
        try:
            await self.producer.client.fetch_all_metadata()
            return True
        except Exception:  # noqa: BLE001 - any failure means not reachable now
            return False

    async def publish(self, topic: Topic, key: str, record: Any, partition: int) -> None:
        """One record of another topic, through the same idempotent producer; returns once Kafka has it."""
        await self.producer.send_and_wait(topic.name, codec.encode(topic.record, record), key=key.encode(),
                                          partition=partition)

    async def send(self, commands: list[Command], wait: bool = True) -> list:
        """One message per partition, commands in the given order; returns the delivery futures."""
        futures = []
        for partition, batch in by_partition(commands, self.partitions).items():
            value = codec.encode(COMMANDS.record, {"commands": batch})
            futures.append(await self.producer.send(COMMANDS.name, value, key=batch[0]["account"].encode(),
                                                    partition=partition))
        if wait:
            for future in futures:
                await future
        return futures


class CommandBatcher:
    """One `exchange.commands` message per partition for many concurrent callers.

    Faust's cost is per message, so an API answering many clients at once sends what they asked
    for together: a caller's commands join the batch being gathered, the batch goes out when the
    previous send is done (or after `window_s`), and every caller returns once Kafka has its
    commands. A caller's commands stay together and in order, and batches go out one at a time,
    so an account's commands keep the order they were asked in.
    """

    def __init__(self, producer: CommandProducer, window_s: float = 0.001, max_commands: int = 500) -> None:
        self.producer = producer
        self.window_s, self.max_commands = window_s, max_commands
        self._waiting: list[tuple[list[Command], asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    async def send(self, commands: list[Command]) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((commands, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all())
        await future

    async def _send_all(self) -> None:
        await asyncio.sleep(self.window_s)  # let the callers of this moment join
        while self._waiting:
            batch: list[tuple[list[Command], asyncio.Future]] = []
            size = 0
            while self._waiting and (not batch or size + len(self._waiting[0][0]) <= self.max_commands):
                commands, future = self._waiting.pop(0)
                batch.append((commands, future))
                size += len(commands)
            try:
                await self.producer.send([c for commands, _ in batch for c in commands])
            except Exception as exc:  # noqa: BLE001 - every caller of the batch learns it failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
