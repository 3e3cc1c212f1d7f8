"""Writes of the outbox. ``message_queue`` is called by the apps' services inside the
transaction that makes the change, so a rolled-back change queues nothing and a committed
one cannot lose its messages; the worker sends them (``notices.sending``)."""

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.site import current_origin
from notices import kinds, selectors
from notices.models import Message, Preference, PushSubscription

# The browsers one person may have notifications on; subscribing one more forgets the
# oldest (a person who reinstalls a browser often leaves dead subscriptions behind).
PUSH_SUBSCRIPTIONS_PER_PERSON = 10


def message_queue(
    *,
    kind: str,
    object_id: int,
    recipient_ids: Iterable[int] = (),
    addresses: Iterable[str] = (),
    trip_id: int | None = None,
    language: str = "",
) -> int:
    """Queue one message of ``kind`` (registered) about ``object_id`` to each recipient
    on each channel of the kind, in each one's language: by e-mail (a kind that is not
    essential skips those who opted out of e-mails), and by push to those who turned
    notifications on in a browser (that was their choice: push has no other preference).
    ``addresses``: people without an account (an invitation sent to an address), reached
    by e-mail only, with no preferences and no language of their own. ``language`` is used
    for those, and for the recipients who chose none (else the site's). Queuing again what
    is already queued or sent adds nothing. Returns how many messages were asked for."""
    spec = kinds.kind_get(kind)
    if spec.render is None and not settings.VAPID_PRIVATE_KEY:
        return 0  # pushed only, and this install has no push
    ids = sorted(set(recipient_ids))
    emails = sorted({address.strip() for address in addresses if address.strip()})
    if spec.render is None:
        emails = []
    if not ids and not emails:
        return 0
    wanted: list[tuple[int, str]] = []
    if ids and spec.render is not None:
        email_ids = ids if spec.essential else sorted(set(ids) - selectors.opted_out(ids))
        wanted += [(user_id, Message.Channel.EMAIL) for user_id in email_ids]
    if ids and spec.push is not None and settings.VAPID_PRIVATE_KEY:
        wanted += [(user_id, Message.Channel.PUSH) for user_id in selectors.push_subscribed(ids)]
    if not wanted and not emails:
        return 0
    users = sorted({user_id for user_id, _channel in wanted})
    languages = kinds.languages_of(users) if users else {}
    fallback = language or settings.LANGUAGE_CODE
    now = timezone.now()
    common = {
        "kind": kind,
        "object_type": spec.object_type,
        "object_id": object_id,
        "trip_id": trip_id,
        "site_url": current_origin(),  # the request's, for links (core/site.py)
        "next_attempt_at": now,
    }
    with transaction.atomic():
        Message.objects.bulk_create(
            [
                Message(
                    recipient_id=user_id,
                    channel=channel,
                    language=languages.get(user_id) or fallback,
                    **common,
                )
                for user_id, channel in wanted
            ]
            + [
                Message(
                    address=address,
                    channel=Message.Channel.EMAIL,
                    language=fallback,
                    **common,
                )
                for address in emails
            ],
            ignore_conflicts=True,
        )
    return len(wanted) + len(emails)


def messages_forget(*, user_id: int, addresses: Iterable[str] = ()) -> int:
    """The person deleted their account: what is still queued for them is deleted (the
    sent and failed rows stay as a record, with no content), and their preferences and
    push subscriptions. The messages to one of their ``addresses`` without account
    (invitations) are deleted whatever their state: those rows hold the address itself.
    Returns how many messages were still queued."""
    Preference.objects.filter(user_id=user_id).delete()
    PushSubscription.objects.filter(user_id=user_id).delete()
    to_address = Q(pk__in=[])
    for address in addresses:
        to_address |= Q(recipient__isnull=True, address__iexact=address)
    queued = Message.objects.filter(
        Q(recipient_id=user_id) | to_address, state=Message.State.QUEUED
    ).count()
    Message.objects.filter(recipient_id=user_id, state=Message.State.QUEUED).delete()
    Message.objects.filter(to_address).delete()
    return queued


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


def push_subscribe(*, user_id: int, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """The person turned notifications on in a browser (validated by the door:
    ``notices.serializers.PushSubscriptionSerializer``). The same browser again updates
    its keys; a browser last used by someone else is theirs now (a shared device)."""
    with transaction.atomic():
        subscription, _created = PushSubscription.objects.update_or_create(
            endpoint=endpoint, defaults={"user_id": user_id, "p256dh": p256dh, "auth": auth}
        )
        keep = PushSubscription.objects.filter(user_id=user_id).order_by("-created_at", "-pk")
        stale = list(keep.values_list("pk", flat=True)[PUSH_SUBSCRIPTIONS_PER_PERSON:])
        if stale:
            PushSubscription.objects.filter(pk__in=stale).delete()
    return subscription


def push_unsubscribe(*, user_id: int, endpoint: str) -> bool:
    """The person turned notifications off in a browser. Returns whether it was on."""
    deleted, _ = PushSubscription.objects.filter(user_id=user_id, endpoint=endpoint).delete()
    return bool(deleted)


def push_subscription_gone(*, subscription_id: int) -> None:
    """The push service answered 404 or 410: that browser will never take a push again."""
    PushSubscription.objects.filter(pk=subscription_id).delete()
