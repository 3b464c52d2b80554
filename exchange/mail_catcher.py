"""`exchange mail-catcher`: a development SMTP server that keeps what it receives, for reading.

`exchange up` starts one when no SMTP_HOST is set and points the recorder's mailer at it, so the
e-mails the exchange sends (notifications a user turned on, security events) land as one
`<time>-<n>.eml` file each in `$EXCHANGE_STATE_DIR/mail/`. It never relays anything. A recipient
whose address contains `+refuse` is refused with 550, for trying what the mailer does with a
message a server will not take.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from pathlib import Path

from aiosmtpd.controller import Controller

REFUSE = "+refuse"


class Keeper:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = itertools.count()

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:
        if REFUSE in address:
            return "550 5.1.1 this mailbox takes no mail"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        name = f"{time.time_ns()}-{next(self.count)}.eml"
        part = self.directory / f".{name}"
        part.write_bytes(envelope.original_content or envelope.content)
        part.rename(self.directory / name)  # whole files only, for whoever reads the directory
        return "250 Message accepted"


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
