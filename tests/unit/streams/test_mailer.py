"""What the mailer sends: which kinds by default, and the message a notification makes."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import replace
from types import SimpleNamespace

from aiosmtpd.controller import Controller

from exchange.config import Settings
from exchange.mail_catcher import DELIVERIES, Keeper, message_id
from infra.local.ports import free_port
from streams.mailer import ATTEMPTS, Mailer, message, wanted


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


class _Recorded(Mailer):
    """The mailer against a real SMTP server (the development catcher, in this process), with its
    Cassandra rows kept in a dict."""

    def __init__(self, port: int) -> None:
        settings = replace(Settings.from_env({}, dotenv="/nonexistent"), smtp_host="127.0.0.1", smtp_port=port,
                           smtp_security="none")
        super().__init__(settings, deliver=self._dead)
        self.records: dict[str, str] = {}
        self.dead: list = []

    async def _dead(self, messages) -> None:
        self.dead.extend(messages)

    async def _rows(self, name: str, *params) -> list:
        if name == "address":
            return [SimpleNamespace(email=params[0])]  # the tests' accounts are their addresses
        if name == "emailed":
            return [SimpleNamespace(status=self.records[params[0]])] if params[0] in self.records else []
        if name == "record":
            self.records[params[0]] = params[2]
        return []


def _note(n: int, account: str) -> dict:
    return {"id": f"1700000000000-c{n}", "account": account, "kind": "login", "ts": 1_700_000_000_000,
            "text": f"Signed in ({n})"}


def test_a_take_goes_over_one_connection_and_a_refusal_or_a_server_saying_later_ends_in_a_dead_letter(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("streams.mailer.FIRST_RETRY_S", 0.01)
    keeper = Keeper(tmp_path)
    controller = Controller(keeper, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        mailer = _Recorded(controller.port)
        notes = [(SimpleNamespace(topic="exchange.notifications", partition=0, offset=n, key=b"", value=b""),
                  _note(n, account))
                 for n, account in enumerate(["ada@example.com", "bo+refuse@example.com", "cy+later@example.com",
                                              "ada@example.com"])]
        asyncio.run(mailer.write_rows(notes))
        asyncio.run(mailer.write_rows(notes))  # read again: nothing is sent twice
    finally:
        controller.stop()
    assert mailer.records == {"1700000000000-c0": "sent", "1700000000000-c1": "failed",
                              "1700000000000-c2": "failed", "1700000000000-c3": "sent"}
    assert len(mailer.dead) == 2 and mailer.sent == 2
    assert sum("not sent (attempt" in r.message for r in caplog.records) == ATTEMPTS  # 451: tried again
    assert sorted(message_id(p.read_bytes()) for p in tmp_path.glob("*.eml")) == [
        "<1700000000000-c0@kafka-exchange>", "<1700000000000-c3@kafka-exchange>"]


def test_the_catcher_keeps_a_copy_once_and_logs_each_delivery(tmp_path):
    keeper = Keeper(tmp_path)
    controller = Controller(keeper, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        mail = message(_note(1, "ada@example.com"), "x <no-reply@localhost>", "ada@example.com")
        for _ in range(2):
            with smtplib.SMTP("127.0.0.1", controller.port) as client:
                client.send_message(mail)
    finally:
        controller.stop()
    assert len(list(tmp_path.glob("*.eml"))) == 1
    assert [line.split()[1] for line in (tmp_path / DELIVERIES).read_text().splitlines()] == ["kept", "copy"]
    assert Keeper(tmp_path).kept == {"<1700000000000-c1@kafka-exchange>"}  # remembered across restarts
