"""`exchange mail-catcher`: a development SMTP server that keeps what it receives, for reading.

`exchange up` starts one when no SMTP_HOST is set and points the recorder's mailer at it, so the
e-mails the exchange sends (notifications a user turned on, security events) land as one
`<time>-<n>.eml` file each in `$EXCHANGE_STATE_DIR/mail/`. It never relays anything.

Like a mailbox, it keeps a message once: a copy with a Message-ID it already has (a mailer killed
after the server took a message and before it could note so sends it again) is not kept again.
Every delivery, copy or not, is a line of `deliveries.log` (`<time> <kept|copy> <Message-ID>`),
so what the sender did stays visible. A recipient whose address contains `+refuse` is refused for
good (550), one with `+later` is told to try again later (451), for trying what the mailer does
then.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller

REFUSE = "+refuse"
LATER = "+later"
DELIVERIES = "deliveries.log"


class Keeper:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = itertools.count()
        self.kept = {message_id(path.read_bytes()) for path in directory.glob("*.eml")}

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        if REFUSE in address:
            return "550 5.1.1 this mailbox takes no mail"
        if LATER in address:
            return "451 4.3.2 not now, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        content = envelope.original_content or envelope.content
        identity = message_id(content)
        copy = identity is not None and identity in self.kept
        if not copy:
            name = f"{time.time_ns()}-{next(self.count)}.eml"
            part = self.directory / f".{name}"
            part.write_bytes(content)
            part.rename(self.directory / name)  # whole files only, for whoever reads the directory
            self.kept.add(identity)
        with open(self.directory / DELIVERIES, "a") as log:
            log.write(f"{time.time_ns()} {'copy' if copy else 'kept'} {identity}\n")
        return "250 Message accepted"


def message_id(content: bytes) -> str | None:
    return BytesParser(policy=policy.default).parsebytes(content, headersonly=True)["Message-ID"]


def serve(directory: Path, host: str, port: int) -> int:
    """Keep what arrives in `directory` until SIGINT or SIGTERM."""
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(Keeper(directory), hostname=host, port=port)
    controller.start()
    stopped = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()

    try:
        asyncio.run(wait())
    finally:
        controller.stop()
    return 0
