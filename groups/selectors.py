"""Reads about people. Each costs at most one query."""

from dataclasses import dataclass

from django.conf import settings

from groups.models import Profile


def profile_get(*, user) -> Profile | None:
    """The user's profile, or None (operators created in the admin have none)."""
    if user is None or not user.is_authenticated:
        return None
    return Profile.objects.filter(user=user).first()


def user_display_name(*, user) -> str:
    """How to call someone on a page: their profile's name, else their e-mail address."""
    profile = profile_get(user=user)
    if profile is not None and profile.display_name:
        return profile.display_name
    return user.get_full_name() or user.email or user.get_username()


def user_display(user) -> str:
    """``ACCOUNT_USER_DISPLAY``: allauth's messages ("Signed in as …") name people as the
    pages do, never by the username it generated."""
    return user_display_name(user=user)


@dataclass(frozen=True)
class FacebookLoginState:
    available: bool  # an app id is configured (the real one, or the sandbox's)
    sandbox: bool  # the local fake Facebook, not the real one


def facebook_login_state() -> FacebookLoginState:
    """Whether the login page offers Facebook, and whether it is the local sandbox."""
    return FacebookLoginState(
        available=bool(settings.FACEBOOK_APP_ID and settings.FACEBOOK_APP_SECRET),
        sandbox=settings.FACEBOOK_SANDBOX,
    )
