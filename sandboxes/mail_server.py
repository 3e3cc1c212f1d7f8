"""A local SMTP server (``aiosmtpd``) on loopback that keeps what it receives: for the
tests (messages parsed back as MIME), the benchmarks and the demo's local mailbox.

Each message accepted is kept in memory (``sandbox.messages``, ``email.message.
EmailMessage`` objects with the envelope's recipients in ``X-Envelope-To``) and, when a
``maildir`` is given, written to that Maildir so another process (the demo's debug-only
mailbox page) can read it. A recipient at ``REFUSED_DOMAIN`` is refused with a permanent
``550``, and one at ``BUSY_DOMAIN`` with a temporary ``451``, as a provider refuses a bad
address or asks to come back later. ``rcpt_delay`` (seconds) slows every recipient's
answer, as a distant server does: a test can stop a sender in the middle of a batch.

From Python::

    with MailSandbox() as sandbox:
        settings.MAILERS = sandbox.mailers()
        ...
        sandbox.messages  # what arrived

or alone: ``python -m sandboxes.mail_server --port 8425 --maildir var/mailbox`` prints
``EMAIL_URL=smtp://127.0.0.1:8425`` once it listens; ``manage.py serve`` runs it that way
in debug when no ``EMAIL_URL`` is set, and the debug-only page ``/messages/mailbox/``
(``notices.mailbox``) shows what it received.
"""

import argparse
import asyncio
import email
import email.policy
import mailbox
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Self

from aiosmtpd.controller import Controller

from sandboxes.lifetime import parent_alive

REFUSED_DOMAIN = "refused.test"
BUSY_DOMAIN = "busy.test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Keeper:
    def __init__(self, sandbox: "MailSandbox"):
        self.sandbox = sandbox

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.sandbox.rcpt_delay:
            await asyncio.sleep(self.sandbox.rcpt_delay)
        domain = address.rsplit("@", 1)[-1].lower()
        if domain == REFUSED_DOMAIN:
            return "550 5.1.1 No such user here"
        if domain == BUSY_DOMAIN:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.sandbox.keep(message)
        return "250 Message accepted"


class MailSandbox:
    def __init__(self, *, port: int = 0, maildir: str | Path | None = None):
        self.port = port or _free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.rcpt_delay = 0.0
        self.maildir = None
        if maildir:
            # Maildir creates its folders only for a path that does not exist yet.
            for folder in ("tmp", "new", "cur"):
                os.makedirs(Path(maildir) / folder, exist_ok=True)
            self.maildir = mailbox.Maildir(maildir, create=False)
        self._lock = threading.Lock()
        self._controller = Controller(_Keeper(self), hostname="127.0.0.1", port=self.port)

    def keep(self, message: email.message.EmailMessage) -> None:
        with self._lock:
            self.messages.append(message)
            if self.maildir is not None:
                self.maildir.add(message)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
        self.rcpt_delay = 0.0

    def to(self, address: str) -> list[email.message.EmailMessage]:
        """The messages that arrived for ``address``."""
        with self._lock:
            return [m for m in self.messages if address in m["X-Envelope-To"].split(", ")]

    @property
    def email_url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def mailers(self) -> dict:
        """A ``MAILERS`` setting that sends to this server through Django's SMTP backend."""
        return {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 10},
            }
        }

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])  # loopback only
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--maildir", default=None)
    parser.add_argument("--parent-pid", type=int, default=0, help="stop when it exits")
    args = parser.parse_args(argv)
    sandbox = MailSandbox(port=args.port, maildir=args.maildir).start()
    print(f"EMAIL_URL={sandbox.email_url}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    # An orphan stops by itself: no mail server outlives the run that started it.
    while not stopped.wait(1.0):
        if args.parent_pid and not parent_alive(args.parent_pid):
            break
    sandbox.stop()


if __name__ == "__main__":
    main()
