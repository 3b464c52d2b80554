"""What the mailer sends: which kinds by default, and the message a notification makes."""

from __future__ import annotations

from streams.mailer import message, wanted


def test_security_events_go_unless_turned_off_and_the_rest_only_if_turned_on():
    assert wanted("login", {}) and wanted("password_changed", {}) and not wanted("order_filled", {})
    assert wanted("order_filled", {"order_filled": True}) and not wanted("login", {"login": False})


def test_a_notification_makes_one_message_named_by_its_id():
    note = {"id": "1700000000000-o42-7", "kind": "order_filled", "ts": 1_700_000_000_000,
            "text": "Buy order 42 on SOL_USDC filled: 2 SOL"}
    mail = message(note, "kafka-exchange <no-reply@localhost>", "ada@example.com")
    assert mail["Message-ID"] == "<1700000000000-o42-7@kafka-exchange>"
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"] == "kafka-exchange: Buy order 42 on SOL_USDC filled: 2 SOL"
    assert mail["Date"] == "Tue, 14 Nov 2023 22:13:20 +0000" and "order_filled" in mail.get_content()
