"""Writes of the outbox. ``message_queue`` is called by the apps' services inside the
transaction that makes the change, so a rolled-back change queues nothing and a committed
one cannot lose its messages; the worker sends them (``notices.sending``)."""

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notices import kinds, selectors
from notices.models import Message, Preference


def message_queue(
    *,
    kind: str,
    object_id: int,
    recipient_ids: Iterable[int],
    trip_id: int | None = None,
    channel: str = Message.Channel.EMAIL,
) -> int:
    """Queue one message of ``kind`` (registered) about ``object_id`` to each recipient,
    in each one's language; a kind that is not essential skips those who opted out.
    Queuing again what is already queued or sent adds nothing.
    Returns how many recipients were asked for."""
    spec = kinds.kind_get(kind)
    ids = sorted(set(recipient_ids))
    if not spec.essential:
        ids = sorted(set(ids) - selectors.opted_out(ids))
    if not ids:
        return 0
    languages = kinds.languages_of(ids)
    now = timezone.now()
    with transaction.atomic():
        Message.objects.bulk_create(
            [
                Message(
                    kind=kind,
                    object_type=spec.object_type,
                    object_id=object_id,
                    trip_id=trip_id,
                    recipient_id=user_id,
                    channel=channel,
                    language=languages.get(user_id) or settings.LANGUAGE_CODE,
                    next_attempt_at=now,
                )
                for user_id in ids
            ],
            ignore_conflicts=True,
        )
    return len(ids)


def messages_forget(*, user_id: int) -> int:
    """The person deleted their account: what is still queued for them is deleted (the
    sent and failed rows stay as a record, with no content), and their preferences.
    Returns how many messages."""
    Preference.objects.filter(user_id=user_id).delete()
    deleted, _ = Message.objects.filter(recipient_id=user_id, state=Message.State.QUEUED).delete()
    return deleted


def preference_set(*, user_id: int, email_updates: bool) -> Preference:
    """The person's choice about non-essential e-mails (account page, one-click
    unsubscribe). Opting out also drops what is queued for them of those kinds."""
    with transaction.atomic():
        preference, _ = Preference.objects.update_or_create(
            user_id=user_id, defaults={"email_updates": email_updates}
        )
        if not email_updates:
            optional = [kind.name for kind in kinds.registered() if not kind.essential]
            Message.objects.filter(
                recipient_id=user_id, state=Message.State.QUEUED, kind__in=optional
            ).update(state=Message.State.DROPPED, last_error="opted out")
    return preference
