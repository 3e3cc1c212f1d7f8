"""The worker's side of the outbox (registered as the ``messages_send`` job).

A pass claims due messages with ``select_for_update(skip_locked=True)`` and, in the same
short transaction, counts the attempt and moves its next attempt ahead by the backoff: a
second worker skips the claimed rows, and a worker killed mid-send leaves them due again
after the backoff. Sending happens after that commit, one message at a time on one
connection; each outcome is written on its own:

- sent: ``sent``;
- refused for good (the server answers 5xx to the recipient or the content, no address):
  ``failed`` with the error; the others go on;
- anything else (server away, 4xx, a rendering bug): stays ``queued`` for the next attempt,
  ``failed`` after ``MESSAGE_MAX_ATTEMPTS``.

A crash between a server's "accepted" and our "sent" sends that message again on the next
attempt: each e-mail carries a Message-ID derived from its row, the same every time, so a
mail system that sees it twice can tell.
"""

import datetime as dt
import logging
import smtplib

from django.conf import settings
from django.core.mail import mailers
from django.db import transaction
from django.utils import timezone, translation

from notices import emails, kinds, selectors
from notices.models import Message

logger = logging.getLogger(__name__)


def backoff(attempts: int) -> dt.timedelta:
    """30 s after the first attempt, doubling, at most an hour."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


class PermanentFailure(Exception):
    """This message will never go: recorded as failed, never retried."""


def _permanent(error: Exception) -> bool:
    if isinstance(error, PermanentFailure):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _text in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException) and not isinstance(
        error,
        smtplib.SMTPSenderRefused,  # our own sender refused: ours to fix, retry
    ):
        return error.smtp_code >= 500
    return False


def _claim(now: dt.datetime, limit: int) -> list[Message]:
    with transaction.atomic():
        batch = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(state=Message.State.QUEUED, next_attempt_at__lte=now)
            .select_related("recipient")
            .order_by("next_attempt_at", "pk")[:limit]
        )
        for message in batch:
            message.attempts += 1
            message.next_attempt_at = now + backoff(message.attempts)
        Message.objects.bulk_update(batch, ["attempts", "next_attempt_at"])
    return batch


def _finish(message: Message, state: str, *, error: str = "") -> None:
    fields = {"state": state, "last_error": error[:2000]}
    if state == Message.State.SENT:
        fields["sent_at"] = timezone.now()
    # Only a row still queued: the account may have been deleted meanwhile.
    Message.objects.filter(pk=message.pk, state=Message.State.QUEUED).update(**fields)


def _send_one(message: Message, mailer) -> bool:
    address = message.recipient.email
    if not address:
        raise PermanentFailure("the recipient has no e-mail address")
    spec = kinds.kind_get(message.kind)
    if not spec.essential and not selectors.email_updates_wanted(user_id=message.recipient_id):
        _finish(message, Message.State.DROPPED, error="opted out")
        return False
    with translation.override(message.language):
        content = spec.render(message)
    if content is None:
        _finish(message, Message.State.DROPPED, error="nothing to send any more")
        return False
    mailer.send_messages([emails.email_build(message, content, essential=spec.essential)])
    _finish(message, Message.State.SENT)
    return True


def messages_send(*, now: dt.datetime | None = None, limit: int = 100) -> int:
    """One pass of the sender. Returns how many messages it sent."""
    batch = _claim(now or timezone.now(), limit)
    if not batch:
        return 0
    max_attempts = settings.SIDEBYSIDE["MESSAGE_MAX_ATTEMPTS"]
    sent = 0
    mailer = mailers.default
    try:
        for message in batch:
            try:
                sent += _send_one(message, mailer)
            except Exception as error:  # one message's failure never stops the others
                permanent = _permanent(error)
                if permanent or message.attempts >= max_attempts:
                    logger.warning("message %s failed for good: %r", message.pk, error)
                    _finish(message, Message.State.FAILED, error=repr(error))
                else:
                    logger.info("message %s postponed: %r", message.pk, error)
                    Message.objects.filter(pk=message.pk).update(last_error=repr(error)[:2000])
                    mailer.close()  # a broken connection is opened again for the next one
    finally:
        mailer.close()
    return sent
