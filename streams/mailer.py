"""E-mail for notifications: a fourth agent of the read app, when SMTP_HOST is set.

Which notifications go by e-mail is the user's choice per kind (`notification_preferences`,
set through `PUT /api/v1/notifications/preferences`); security events go unless turned off,
the others only if turned on. The address is the account's sign-up e-mail.

At least once, never twice for one notification id: a message is sent only if
`notification_emails` has no record of its id, and the record is written as soon as the SMTP
server has taken it (before the connection is closed; one connection serves a take). A worker
killed in that moment sends the one message it had in flight again on its restart, with the same
Message-ID (the notification id), which is how a mail system recognises a copy. A server that
refuses the message for good (a 5xx reply), or answers "not now" (4xx) `ATTEMPTS` times, gets no
more tries: the notification goes to exchange.dead-letters with the reason and the record says
`failed`, so nothing waits behind it. A server that cannot be reached is waited for, however long:
an outage gives nothing up.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from exchange.config import Settings
from exchange.db import cluster, wait
from schemas.vocabulary import SECURITY_KINDS

from .batch import dead_letter
from .outputs import ROWS_FIRST, Decided, Outgoing

log = logging.getLogger("exchange.mailer")

ATTEMPTS = 5  # a server that answers "not now" (4xx) this often is given up on
FIRST_RETRY_S = 0.5  # doubling: 0.5, 1, 2, 4 s between the attempts
UNREACHABLE_RETRY_MAX_S = 30.0
QUERIES = {
    "preferences": "SELECT kind, email FROM notification_preferences WHERE account = ?",
    "address": "SELECT email FROM users_by_account WHERE account = ?",
    "emailed": "SELECT status FROM notification_emails WHERE id = ?",
    "record": "INSERT INTO notification_emails (id, account, status, reason, ts) VALUES (?, ?, ?, ?, ?)",
}


def wanted(kind: str, preferences: dict[str, bool]) -> bool:
    """Whether a notification of this kind goes by e-mail, given the user's choices."""
    return preferences.get(kind, kind in SECURITY_KINDS)


def message(note: dict, sender: str, address: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, address
    mail["Subject"] = f"kafka-exchange: {note['text'][:120]}"
    mail["Message-ID"] = f"<{note['id']}@kafka-exchange>"
    mail["Date"] = formatdate(note["ts"] / 1000, usegmt=True)
    mail.set_content(f"{note['text']}\n\nYou get this e-mail because notifications of this kind ({note['kind']}) "
                     "are turned on for your account; change that in your notification preferences.\n")
    return mail


class Refused(Exception):
    """The server will not take this message, however often it is sent."""


class MailStage:
    """Gathers a take's notifications; the Durable side (`Mailer`) sends them."""

    order = ROWS_FIRST
    refusals = (KeyError,)

    def begin(self, now_ms: int) -> None:
        self._notes: list[tuple[object, dict]] = []

    def decide(self, message, record: dict) -> None:
        self._notes.append((message, record))

    def end(self) -> Decided:
        return Decided(self._notes, [])


class Mailer:
    def __init__(self, settings: Settings, deliver) -> None:
        self.settings = settings
        self.deliver = deliver  # async (messages: list[Outgoing]) -> None
        self._session = None
        self._prepared: dict = {}
        self._client: smtplib.SMTP | None = None  # one connection per take
        self.sent = self.failed = 0

    async def start(self) -> None:
        def connect():
            session = cluster(self.settings).connect()
            session.set_keyspace(self.settings.cassandra_keyspace)
            return session

        self._session = await asyncio.to_thread(connect)
        self._prepared = {name: await asyncio.to_thread(self._session.prepare, cql) for name, cql in QUERIES.items()}

    async def _rows(self, name: str, *params) -> list:
        return await wait(self._session.execute_async(self._prepared[name].bind(params)))

    # Durable, for run_batch: the take's "rows" are its notifications.
    async def write_rows(self, notes: list[tuple[object, dict]]) -> None:
        dead: list[Outgoing] = []
        try:
            for source, note in notes:
                reason = await self._mail(note)
                if reason is not None:
                    dead.append(dead_letter(source, Refused(reason)))
        finally:
            await self._hang_up()
        if dead:
            await self.deliver(dead)

    async def send(self, messages: list[Outgoing]) -> None:
        await self.deliver(messages)

    async def _mail(self, note: dict) -> str | None:
        """Send one notification if it is wanted and not sent yet; the reason if it was given up."""
        account = note["account"]
        preferences = {row.kind: row.email for row in await self._rows("preferences", account)}
        if not wanted(note["kind"], preferences) or await self._rows("emailed", note["id"]):
            return None
        users = await self._rows("address", account)
        if not users or not users[0].email:
            return None
        mail = message(note, self.settings.smtp_from, users[0].email)
        delay, reason, attempt = FIRST_RETRY_S, "", 0
        while attempt < ATTEMPTS:
            try:
                client = await self._connection()
                await asyncio.to_thread(self._send, client, mail)
            except Refused as refused:
                reason = str(refused)
                break
            except smtplib.SMTPResponseException as exc:  # a 4xx: the server answers but not now
                await self._hang_up()
                attempt += 1
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("e-mail of notification %s not sent (attempt %d of %d): %s", note["id"], attempt,
                            ATTEMPTS, reason)
                if attempt < ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
            except OSError as exc:  # smtplib's other errors are OSErrors too: a dropped connection
                # The server is not there: wait for it as long as it takes (nothing is given up
                # for an outage), as the recorder waits for Cassandra.
                await self._hang_up()
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("mail server unreachable (%s); e-mail of notification %s waits", reason, note["id"])
                await asyncio.sleep(min(delay, UNREACHABLE_RETRY_MAX_S))
                delay *= 2
            else:
                await self._rows("record", note["id"], account, "sent", None, note["ts"])
                self.sent += 1
                return None
        self.failed += 1
        log.error("e-mail of notification %s given up: %s", note["id"], reason, extra={"account": account})
        await self._rows("record", note["id"], account, "failed", reason[:500], note["ts"])
        return reason

    async def _connection(self) -> smtplib.SMTP:
        if self._client is None:
            self._client = await asyncio.to_thread(self._connect)
        return self._client

    async def _hang_up(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.to_thread(client.quit)
            except (OSError, smtplib.SMTPException):
                client.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=10,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10)
        try:
            if s.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                client.login(s.smtp_user, s.smtp_password)
        except BaseException:
            client.close()
            raise
        return client

    @staticmethod
    def _send(client: smtplib.SMTP, mail: EmailMessage) -> None:
        try:
            client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            _reset(client)
            code, reply = min(exc.recipients.values())
            if code >= 500:
                raise Refused(f"recipient refused: {exc.recipients}") from None
            raise smtplib.SMTPResponseException(code, reply) from None  # "not now": tried again
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                _reset(client)
                raise Refused(f"{exc.smtp_code} {exc.smtp_error!r}") from None
            raise


def _reset(client: smtplib.SMTP) -> None:
    """After a refusal, ready the connection for the take's next message (if it is still up: the
    next send finds out)."""
    try:
        client.rset()
    except (OSError, smtplib.SMTPException):
        pass
