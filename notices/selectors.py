"""Reads of the outbox: who opted out, the unsubscribe token."""

from collections.abc import Iterable

from django.core import signing

from notices.models import Preference

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
