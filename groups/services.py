"""Writes about people, each in one transaction. Called by the login adapters
(``groups.identity``) and the signup form; see docs/identity.md."""

from django.conf import settings
from django.db import transaction

from groups.models import Profile

DISPLAY_NAME_MAX_LENGTH = Profile._meta.get_field("display_name").max_length
AVATAR_URL_MAX_LENGTH = Profile._meta.get_field("avatar_url").max_length


def _language_or_blank(language: str | None) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    language = (language or "").split("-")[0].lower()
    return language if language in codes else ""


def _clean_name(name: str | None) -> str:
    return " ".join((name or "").split())[:DISPLAY_NAME_MAX_LENGTH]


def _clean_avatar_url(url: str | None) -> str:
    # Only an http(s) URL that fits is kept: it ends up in an <img src>.
    if not url or len(url) > AVATAR_URL_MAX_LENGTH or not url.startswith(("https://", "http://")):
        return ""
    return url


@transaction.atomic
def profile_create(*, user, display_name: str, language: str | None = None) -> Profile:
    """The profile of someone who signed up with an e-mail address and a name.

    Idempotent: a second call leaves an existing profile as it is.
    """
    profile, _created = Profile.objects.get_or_create(
        user=user,
        defaults={
            "display_name": _clean_name(display_name) or user.email,
            "preferred_language": _language_or_blank(language),
        },
    )
    return profile


@transaction.atomic
def profile_create_or_update_from_facebook(
    *,
    user,
    facebook_id: str,
    name: str | None,
    picture_url: str | None,
    language: str | None = None,
) -> Profile:
    """Create or refresh the profile of someone who logged in with Facebook.

    The name and picture are Facebook's each time (people change them there); the
    preferred language is set once, from the page they signed up on, and then is theirs.
    """
    profile = Profile.objects.select_for_update().filter(user=user).first()
    name = _clean_name(name)
    if profile is None:
        return Profile.objects.create(
            user=user,
            facebook_id=facebook_id,
            display_name=name or user.email or facebook_id,
            avatar_url=_clean_avatar_url(picture_url),
            preferred_language=_language_or_blank(language),
        )
    profile.facebook_id = facebook_id
    if name:
        profile.display_name = name
    profile.avatar_url = _clean_avatar_url(picture_url)
    if not profile.preferred_language:
        profile.preferred_language = _language_or_blank(language)
    profile.save()
    return profile
