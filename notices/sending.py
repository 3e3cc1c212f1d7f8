"""The worker's side of the outbox (registered as the ``messages_send`` job).

A pass claims due messages with ``select_for_update(skip_locked=True)`` and, in the same
short transaction, counts the attempt and moves its next attempt ahead by the backoff: a
second worker skips the claimed rows, and a worker killed mid-send leaves them due again
after the backoff. Sending happens after that commit, one message at a time (e-mails on
one SMTP connection, pushes through ``notices.push``); each outcome is written on its own:

- sent: ``sent``;
- refused for good (the server answers 5xx to the recipient or the content, a provider's
  API refuses the address, no address; every browser of a push gone or refusing it):
  ``failed`` with the error; the others go on;
- anything else (server away, 4xx, a push service's 5xx or 429, a rendering bug): stays
  ``queued`` for the next attempt, ``failed`` after ``MESSAGE_MAX_ATTEMPTS``;
- nothing to send any more (the object moved on, the person opted out of e-mails, or,
  for a push, the person is on the trip's live page and sees it there): ``dropped``.

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

from core.site import site_origin
from notices import emails, kinds, push, selectors
from notices.models import Message

logger = logging.getLogger(__name__)


def backoff(attempts: int) -> dt.timedelta:
    """30 s after the first attempt, doubling, at most an hour."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


class PermanentFailure(Exception):
    """This message will never go: recorded as failed, never retried."""


# django-anymail's errors for an address a provider will never take (malformed, or
# refused: bounced before, unsubscribed, blocked). Named, not imported: anymail is
# installed only where a provider's backend is configured.
_PROVIDER_REFUSALS = {
    ("anymail.exceptions", "AnymailRecipientsRefused"),
    ("anymail.exceptions", "AnymailInvalidAddress"),
}


def _permanent(error: Exception) -> bool:
    if isinstance(error, PermanentFailure | push.PushRefused):
        return True
    if any((cls.__module__, cls.__name__) in _PROVIDER_REFUSALS for cls in type(error).__mro__):
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
            Message.objects.select_for_update(skip_locked=True, of=("self",))
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


def _push_one(message: Message) -> bool:
    spec = kinds.kind_get(message.kind)
    if spec.push is None:
        raise PermanentFailure(f"the kind {spec.name} has no push renderer")
    if not push.push_enabled():
        raise PermanentFailure("Web Push is not configured (VAPID_PRIVATE_KEY)")
    if message.recipient_id in kinds.online_on_trip(message.trip_id):
        _finish(message, Message.State.DROPPED, error="on the trip's page")
        return False
    with translation.override(message.language):
        content = spec.push(message)
    if content is None:
        _finish(message, Message.State.DROPPED, error="nothing to send any more")
        return False
    if not push.push_deliver(message, content):
        _finish(message, Message.State.DROPPED, error="notifications turned off")
        return False
    _finish(message, Message.State.SENT)
    return True


def _send_one(message: Message, mailer) -> bool:
    if message.channel == Message.Channel.PUSH:
        return _push_one(message)
    if not message.email_address:
        raise PermanentFailure("the recipient has no e-mail address")
    spec = kinds.kind_get(message.kind)
    # Preferences are an account's: an address without one has none to follow.
    if (
        not spec.essential
        and message.recipient_id
        and not selectors.email_updates_wanted(user_id=message.recipient_id)
    ):
        _finish(message, Message.State.DROPPED, error="opted out")
        return False
    # Links point where the request that queued it came from, when SITE_URL is unset.
    with translation.override(message.language), site_origin(message.site_url):
        content = spec.render(message)
        built = emails.email_build(message, content, essential=spec.essential) if content else None
    if content is None:
        _finish(message, Message.State.DROPPED, error="nothing to send any more")
        return False
    mailer.send_messages([built])
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
