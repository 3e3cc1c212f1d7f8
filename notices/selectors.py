"""Reads of the outbox: who opted out, who has push on, the unsubscribe token."""

from collections.abc import Iterable

from django.core import signing

from core.jsonable import iso_or_none as _when
from notices.models import Message, Preference, PushSubscription

UNSUBSCRIBE_SALT = "notices.unsubscribe"


def opted_out(user_ids: Iterable[int]) -> set[int]:
    """Those of ``user_ids`` who want no non-essential e-mail."""
    return set(
        Preference.objects.filter(user_id__in=list(user_ids), email_updates=False).values_list(
            "user_id", flat=True
        )
    )


def email_updates_wanted(*, user_id: int) -> bool:
    return not opted_out([user_id])


def unsubscribe_token(*, user_id: int) -> str:
    """The secret of someone's one-click unsubscribe link: their id, signed. It does not
    expire (an old e-mail's link must still work) and only ever turns e-mails off."""
    return signing.dumps(user_id, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_token_read(token: str) -> int | None:
    try:
        return int(signing.loads(token, salt=UNSUBSCRIBE_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        return None


def push_subscribed(user_ids: Iterable[int]) -> list[int]:
    """Those of ``user_ids`` with notifications on in at least one browser."""
    return sorted(
        set(
            PushSubscription.objects.filter(user_id__in=list(user_ids)).values_list(
                "user_id", flat=True
            )
        )
    )


def push_subscriptions_export(user) -> list[dict]:
    """The browsers where ``user`` turned notifications on, for "Download my data"."""
    return [
        {
            "endpoint": subscription.endpoint,
            "public_key": subscription.p256dh,
            "created_at": subscription.created_at.isoformat(),
            "last_success_at": (
                subscription.last_success_at.isoformat() if subscription.last_success_at else None
            ),
        }
        for subscription in PushSubscription.objects.filter(user=user).order_by("created_at", "pk")
    ]


def messages_export(*, user_id: int) -> list[dict]:
    """The messages kept for the person ("Download my data", through ``groups.exports``):
    what kind, about which trip, by which channel, in which language, and when."""
    return [
        {
            "kind": m.kind,
            "trip_id": m.trip_id,
            "channel": m.channel,
            "language": m.language,
            "state": m.state,
            "created_at": _when(m.created_at),
            "sent_at": _when(m.sent_at),
        }
        for m in Message.objects.filter(recipient_id=user_id).order_by("created_at", "pk")
    ]


def preferences_export(*, user_id: int) -> dict:
    preference = Preference.objects.filter(user_id=user_id).first()
    return {
        "email_updates": preference.email_updates if preference else True,
        "updated_at": _when(preference.updated_at) if preference else None,
    }
