"""The wire codec writes standard Avro single-object messages and reads older versions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import avro.io
import avro.schema
import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import AVRO_DIR, MARKER, Codec, DecodeError, codec, expand

PLACE = {
    "order_id": 7, "client_order_id": "my-1", "market": "SOL_USDC", "side": "buy", "type": "limit",
    "time_in_force": "GTC", "post_only": False, "price": 15000, "quantity": 10000,
    "quote_quantity": None, "stp": "expire_maker",
}


def _header(schema: dict) -> bytes:
    """A single-object header as the avro package computes it, independently of the codec."""
    return MARKER + avro.schema.parse(json.dumps(schema)).fingerprint("CRC-64-AVRO")


def _crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification writes it (section "Schema Fingerprints")."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp & 0xFFFFFFFFFFFFFFFF)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_the_specifications_test_vector():
    # Avro's schema-tests: the canonical form "null" has the 64-bit fingerprint 7195948357588979594.
    assert _crc64_avro(b'"null"') == 7195948357588979594 == 0x63DD24E7CC258F8A


def test_every_header_is_the_marker_then_the_fingerprint_little_endian():
    """The single-object encoding: C3 01, then the CRC-64-AVRO of the parsing canonical form as
    8 little-endian bytes (the specification's "Single-object encoding")."""
    for name in codec.names:
        canonical = to_parsing_canonical_form(codec.schema(name)).encode()
        assert codec.header(name) == MARKER + _crc64_avro(canonical).to_bytes(8, "little"), name


def test_messages_written_with_the_fingerprint_reversed_stay_readable():
    balance = {"asset": "SOL", "available": 5, "held": 2}
    message = codec.encode("exchange.Balance", balance)
    legacy = MARKER + message[2:10][::-1] + message[10:]
    assert codec.decode(legacy) == ("exchange.Balance", balance)
    old = _old_message("v5", "exchange.DepthUpdate", {"market": "SOL_USDC", "first_update_id": 3,
                                                       "last_update_id": 7, "bids": [], "asks": [], "ts": 5})
    assert codec.decode_as("exchange.DepthUpdate", MARKER + old[2:10][::-1] + old[10:])["full"] is False


def command_batch(*bodies) -> dict:
    return {"commands": [
        {"command_id": f"c{n}", "account": "ada", "ts": 1_700_000_000_000 + n, "body": body}
        for n, body in enumerate(bodies)
    ]}


def test_the_official_avro_package_reads_what_the_codec_writes():
    message = codec.encode("exchange.CommandBatch", command_batch(
        ("exchange.PlaceOrder", PLACE), ("exchange.CancelOrder", {"order_id": 7, "market": "SOL_USDC"}),
    ))
    assert message[:2] == MARKER
    schema = avro.schema.parse(json.dumps(codec.schema("exchange.CommandBatch")))
    # The avro package gives the fingerprint's bytes in wire order (little-endian).
    assert message[2:10] == schema.fingerprint("CRC-64-AVRO")
    decoded = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(message[10:])))
    assert decoded["commands"][0]["body"]["price"] == 15000
    assert decoded["commands"][0]["body"]["stp"] == "expire_maker"
    assert decoded["commands"][1]["body"] == {"order_id": 7, "market": "SOL_USDC"}


def test_the_codec_reads_what_the_official_avro_package_writes():
    schema = avro.schema.parse(json.dumps(codec.schema("exchange.Balance")))
    body = io.BytesIO()
    avro.io.DatumWriter(schema).write({"asset": "SOL", "available": 5, "held": 2}, avro.io.BinaryEncoder(body))
    message = MARKER + schema.fingerprint("CRC-64-AVRO") + body.getvalue()
    assert codec.decode(message) == ("exchange.Balance", {"asset": "SOL", "available": 5, "held": 2})


def test_union_branches_keep_their_record_names():
    message = codec.encode("exchange.CommandBatch", command_batch(
        ("exchange.Deposit", {"asset": "USDC", "amount": 10, "reference": "r"}),
        ("exchange.Withdraw", {"asset": "USDC", "amount": 10, "reference": "r"}),
    ))
    _, batch = codec.decode(message)
    assert [c["body"][0] for c in batch["commands"]] == ["exchange.Deposit", "exchange.Withdraw"]


def test_a_message_written_with_version_1_is_read_with_todays_schema():
    """PlaceOrder v1 had no `stp`; today's reader fills in its default."""
    old_types = {}
    for path in [*AVRO_DIR.glob("*.avsc"), *(AVRO_DIR / "history" / "v1").glob("*.avsc")]:
        raw = json.loads(path.read_text())
        old_types[f"{raw['namespace']}.{raw['name']}"] = raw
    old_schema = expand("exchange.CommandBatch", old_types)
    assert "stp" not in json.dumps(old_schema)
    old_place = {k: v for k, v in PLACE.items() if k != "stp"}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(old_schema),
                               command_batch(("exchange.PlaceOrder", old_place)))
    message = _header(old_schema) + body.getvalue()

    name, batch = codec.decode(message)
    assert name == "exchange.CommandBatch"
    kind, place = batch["commands"][0]["body"]
    assert kind == "exchange.PlaceOrder"
    assert place["stp"] == "expire_taker"  # the default
    assert place["price"] == 15000


def test_an_account_row_with_the_version_3_outbox_is_read_with_todays_schema():
    """Account rows once kept whole outputs (`outbox`); today they keep refusals only. A row
    restored from an older changelog loses the outbox and has nothing left to answer again."""
    old_types = {}
    for path in [*AVRO_DIR.glob("*.avsc"), *(AVRO_DIR / "history" / "v3").glob("*.avsc")]:
        raw = json.loads(path.read_text())
        old_types[f"{raw['namespace']}.{raw['name']}"] = raw
    old_schema = expand("exchange.AccountState", old_types)
    result = {"command_id": "c1", "account": "ada", "accepted": True, "reason": None, "order_id": None,
              "ts": 5, "kind": "Deposit", "asset": "SOL", "amount": 3}
    row = {"account": "ada", "balances": {"SOL": {"available": 3, "held": 0}}, "last_command_offset": 9,
           "settled_seq": {}, "deposited": {"SOL": 3}, "outbox": [{"offset": 9, "forward": None, "result": result}],
           "released": []}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(old_schema), row)
    name, state = codec.decode(_header(old_schema) + body.getvalue())
    assert name == "exchange.AccountState"
    assert state["refused"] == {} and state["undelivered_from"] == -1 and "outbox" not in state
    assert state["balances"] == {"SOL": {"available": 3, "held": 0}} and state["last_command_offset"] == 9


def _old_message(generation: str, name: str, record: dict) -> bytes:
    """A message as a producer holding the schemas of history/<generation> wrote it."""
    old_types = {}
    for path in [*AVRO_DIR.glob("*.avsc"), *(AVRO_DIR / "history" / generation).glob("*.avsc")]:
        raw = json.loads(path.read_text())
        old_types[f"{raw['namespace']}.{raw['name']}"] = raw
    schema = expand(name, old_types)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    return _header(schema) + body.getvalue()


def test_rows_and_results_from_before_two_phase_withdrawals_are_read_with_todays_schemas():
    """Version 4 had no pending withdrawals in the account row and no settlement fields in a result."""
    def old_message(name: str, record: dict) -> bytes:
        return _old_message("v4", name, record)

    row = {"account": "ada", "balances": {"SOL": {"available": 3, "held": 0}}, "last_command_offset": 9,
           "settled_seq": {}, "deposited": {"SOL": 3}, "undelivered_from": 9, "refused": {}, "released": []}
    assert codec.decode(old_message("exchange.AccountState", row)) == ("exchange.AccountState",
                                                                        {**row, "withdrawals": {}})
    result = {"command_id": "c1", "account": "ada", "accepted": True, "reason": None, "order_id": None,
              "ts": 5, "kind": "Withdraw", "asset": "SOL", "amount": 3}
    assert codec.decode(old_message("exchange.CommandResult", result))[1] == {
        **result, "reference": None, "withdrawal_id": None, "completed": None, "existing_order_id": None}
    name, batch = codec.decode(old_message("exchange.CommandBatch", command_batch(("exchange.Deposit", {
        "asset": "SOL", "amount": 3, "reference": ""}))))
    assert name == "exchange.CommandBatch" and batch["commands"][0]["body"][0] == "exchange.Deposit"


def test_depth_updates_from_before_full_books_are_read_as_changes():
    update = {"market": "SOL_USDC", "first_update_id": 3, "last_update_id": 7,
              "bids": [{"price": 150, "quantity": 2}], "asks": [], "ts": 5}
    assert codec.decode_as("exchange.DepthUpdate", _old_message("v5", "exchange.DepthUpdate", update)) == {
        **update, "full": False}


def test_results_from_before_existing_order_ids_are_read_without_one():
    result = {"command_id": "c1", "account": "ada", "accepted": False, "reason": "duplicate_client_order_id",
              "order_id": 8, "ts": 5, "kind": "PlaceOrder", "asset": None, "amount": None, "reference": None,
              "withdrawal_id": None, "completed": None}
    assert codec.decode_as("exchange.CommandResult", _old_message("v6", "exchange.CommandResult", result)) == {
        **result, "existing_order_id": None}


def test_commands_from_before_reply_partitions_are_read_with_nobody_waiting():
    """Version 7 commands named no reply partition: their outcomes go to the topics only."""
    batch = command_batch(("exchange.CancelAll", {"market": "SOL_USDC"}))
    name, decoded = codec.decode(_old_message("v7", "exchange.CommandBatch", batch))
    assert name == "exchange.CommandBatch" and decoded["commands"][0]["reply_to"] is None


def test_a_command_names_its_reply_partition_and_a_reply_round_trips():
    batch = command_batch(("exchange.CancelAll", {"market": "SOL_USDC"}))
    batch["commands"][0]["reply_to"] = 7
    assert codec.decode_as("exchange.CommandBatch", codec.encode("exchange.CommandBatch", batch)) == batch
    reply = codec.decode_as("exchange.Reply", codec.encode("exchange.Reply", {}))
    assert reply == {"results": [], "updates": []}


@pytest.mark.parametrize("garbage, reason", [
    (b"", "marker"), (b"{\"json\": true}", "marker"), (MARKER + b"\x00" * 8 + b"x", "fingerprint"),
])
def test_garbage_is_a_decode_error_with_a_reason(garbage, reason):
    with pytest.raises(DecodeError, match=reason):
        codec.decode(garbage)


def test_a_truncated_or_padded_body_is_a_decode_error():
    message = codec.encode("exchange.Balance", {"asset": "SOL", "available": 5, "held": 2})
    with pytest.raises(DecodeError):
        codec.decode(message[:-1])
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode(message + b"\x00")


def test_decode_as_insists_on_the_topic_record_type():
    message = codec.encode("exchange.Balance", {"asset": "SOL", "available": 5, "held": 2})
    with pytest.raises(DecodeError, match="expected exchange.Trade"):
        codec.decode_as("exchange.Trade", message)


@given(st.lists(st.tuples(st.integers(-2**63, 2**63 - 1), st.integers(0, 2**63 - 1)), max_size=20), st.booleans())
def test_depth_updates_round_trip(levels, full):
    update = {"market": "BTC_USDT", "first_update_id": 1, "last_update_id": 9,
              "bids": [{"price": p, "quantity": q} for p, q in levels], "asks": [], "ts": 5, "full": full}
    assert codec.decode_as("exchange.DepthUpdate", codec.encode("exchange.DepthUpdate", update)) == update


def test_every_schema_file_is_a_valid_standalone_schema_once_expanded():
    fresh = Codec()
    for name in fresh.names:
        avro.schema.parse(json.dumps(fresh.schema(name)))  # raises if not valid Avro
    assert "exchange.CommandBatch" in fresh.names and "exchange.DeadLetter" in fresh.names
    assert len(list(Path(AVRO_DIR).glob("*.avsc"))) >= len(fresh.names)


def test_balance_updates_from_before_settlement_offsets_are_read_without_one():
    update = {"account": "ada", "balances": [{"asset": "SOL", "available": 3, "held": 1}], "ts": 5}
    assert codec.decode_as("exchange.BalanceUpdate", _old_message("v9", "exchange.BalanceUpdate", update)) == {
        **update, "settlement_offset": None}


def test_market_reports_from_before_hours_are_read_as_whole_days():
    report = {"market": "SOL_USDC", "day": "2026-12-07", "volume": 3, "quote_volume": 300, "trades": 1,
              "fee_income": 1, "traders": ["ada", "bob"], "orders_placed": 2, "orders_canceled": 0,
              "last_trade_id": 9, "last_seq": 4}
    old = _old_message("v10", "exchange.MarketDayReport", report)
    assert codec.decode_as("exchange.MarketDayReport", old) == {**report, "hour": None}
