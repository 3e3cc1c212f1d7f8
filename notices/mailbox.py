"""The demo's local mailbox (debug only): the e-mails the local SMTP server
(sandboxes/mail_server.py, started by ``manage.py serve``) kept in its Maildir
(``MAIL_SANDBOX_DIR``), read back for the page ``/messages/mailbox/``."""

import base64
import email
import email.policy
import mailbox
import os
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Received:
    key: str
    sender: str
    to: str
    subject: str
    date: object
    text: str
    html: str
    attachments: list[str]


def _box() -> mailbox.Maildir:
    # Maildir creates its folders only for a path that does not exist yet.
    for folder in ("tmp", "new", "cur"):
        os.makedirs(Path(settings.MAIL_SANDBOX_DIR) / folder, exist_ok=True)
    return mailbox.Maildir(settings.MAIL_SANDBOX_DIR, create=False)


def _html_with_images(message) -> str:
    """The HTML part with its inline images (``cid:``) as data URLs: the page shows it in
    a sandboxed frame that cannot fetch parts of the message."""
    part = message.get_body(("html",))
    if part is None:
        return ""
    html = part.get_content()
    for image in message.walk():
        content_id = (image["Content-ID"] or "").strip("<>")
        if content_id and image.get_content_maintype() == "image":
            data = base64.b64encode(image.get_content()).decode()
            html = html.replace(
                f"cid:{content_id}", f"data:{image.get_content_type()};base64,{data}"
            )
    return html


def _read(key: str, raw: bytes) -> Received:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(("plain",))
    try:
        date = parsedate_to_datetime(message["Date"]) if message["Date"] else None
    except (TypeError, ValueError):
        date = None
    return Received(
        key=key,
        sender=str(message["From"] or ""),
        to=str(message["X-Envelope-To"] or message["To"] or ""),
        subject=str(message["Subject"] or ""),
        date=date,
        text=text.get_content() if text is not None else "",
        html=_html_with_images(message),
        attachments=[part.get_filename() or "" for part in message.iter_attachments()],
    )


def received_list(*, limit: int = 200) -> list[Received]:
    """The newest first."""
    box = _box()
    found = [_read(key, box.get_bytes(key)) for key in box.iterkeys()]
    found.sort(key=lambda r: r.date.timestamp() if r.date else 0, reverse=True)
    return found[:limit]


def received_get(key: str) -> Received | None:
    box = _box()
    try:
        return _read(key, box.get_bytes(key))
    except KeyError:
        return None
