"""The typed records are today's schemas: generated from them, and naming every field they have."""

from __future__ import annotations

import typing
from pathlib import Path

from schemas import records, typegen
from schemas.codec import codec


def test_the_typed_records_are_generated_from_todays_schemas():
    written = (Path(records.__file__)).read_text()
    assert written == typegen.generate(), "schemas/records.py is out of date: run `make records`"


def test_every_record_type_has_a_typed_record_with_the_schemas_fields_in_order():
    for name in codec.names:
        schema = codec.schema(name)
        typed = getattr(records, name.split(".")[-1])
        if schema["type"] == "enum":
            assert typing.get_args(typed) == tuple(schema["symbols"])
            continue
        assert list(typed.__annotations__) == [field["name"] for field in schema["fields"]], name
        optional = {field["name"] for field in schema["fields"] if "default" in field}
        # The annotations are strings (postponed evaluation), so NotRequired shows in their text.
        marked = {field for field, kind in typed.__annotations__.items()
                  if kind.__forward_arg__.startswith("NotRequired[")}
        assert marked == optional, name


def test_a_union_of_records_is_a_pair_of_record_name_and_record():
    assert records.Command.__annotations__["body"].__forward_arg__ == (
        "tuple[str, PlaceOrder | CancelOrder | CancelAll | Deposit | Withdraw | SettleWithdrawal]")
