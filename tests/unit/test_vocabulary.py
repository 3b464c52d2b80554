"""The words of schemas/vocabulary.py are the ones the schemas define."""

from __future__ import annotations

import json

from schemas import vocabulary
from schemas.codec import AVRO_DIR


def test_order_statuses_are_the_schemas_symbols():
    symbols = json.loads((AVRO_DIR / "exchange.OrderStatus.avsc").read_text())["symbols"]
    assert sorted(vocabulary.OPEN_STATUSES + vocabulary.ENDED_STATUSES) == sorted(symbols)
    assert set(vocabulary.WITH_REASON) <= set(vocabulary.ENDED_STATUSES)


def test_command_kinds_are_the_command_body_branches():
    command = json.loads((AVRO_DIR / "exchange.Command.avsc").read_text())
    [body] = [field for field in command["fields"] if field["name"] == "body"]
    assert sorted(vocabulary.ORDER_COMMANDS + vocabulary.MONEY) == sorted(body["type"])
