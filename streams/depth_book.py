"""A market's book by price level, kept from its depth updates exactly as a client keeps one.

The matching stage sends, per batch of commands, the absolute quantity of every level the batch
changed, with the first and last update ids it covers; consecutive updates cover consecutive
ids. An update is applied when it starts at or before the next expected id and ends after the
current one (the client rule of notes/api-conventions.md): after a matching restart the same
ids can come again in batches cut differently, and since quantities are absolute, applying the
part not yet seen is exact. An update that starts further on means updates were lost; the
book then refuses it rather than drift, until a full update (the whole book, which the
matching stage sends now and then) replaces it.
"""

from __future__ import annotations


class DepthGap(Exception):
    """Updates between the book's last id and this one's first are missing."""


class DepthBook:
    def __init__(self, market: str, last_update_id: int = 0, bids=(), asks=()) -> None:
        self.market = market
        self.last_update_id = last_update_id
        self.bids: dict[int, int] = {level["price"]: level["quantity"] for level in bids}
        self.asks: dict[int, int] = {level["price"]: level["quantity"] for level in asks}

    @classmethod
    def from_snapshot(cls, snapshot: dict) -> "DepthBook":
        return cls(snapshot["market"], snapshot["last_update_id"], snapshot["bids"], snapshot["asks"])

    def apply(self, update: dict) -> bool:
        """Apply one update; False if it holds nothing new. Raises DepthGap."""
        if update["last_update_id"] <= self.last_update_id:
            return False
        if update.get("full"):
            self.bids = {level["price"]: level["quantity"] for level in update["bids"]}
            self.asks = {level["price"]: level["quantity"] for level in update["asks"]}
            self.last_update_id = update["last_update_id"]
            return True
        if update["first_update_id"] > self.last_update_id + 1:
            raise DepthGap(f"{self.market}: book at update {self.last_update_id}, next update starts at "
                           f"{update['first_update_id']}")
        for levels, side in ((update["bids"], self.bids), (update["asks"], self.asks)):
            for level in levels:
                if level["quantity"]:
                    side[level["price"]] = level["quantity"]
                else:
                    side.pop(level["price"], None)
        self.last_update_id = update["last_update_id"]
        return True

    def snapshot(self) -> dict:
        """The exchange.DepthSnapshot record: bids highest first, asks lowest first."""
        return {"market": self.market, "last_update_id": self.last_update_id,
                "bids": [{"price": p, "quantity": self.bids[p]} for p in sorted(self.bids, reverse=True)],
                "asks": [{"price": p, "quantity": self.asks[p]} for p in sorted(self.asks)]}
