"""django-allauth's adapters: where its login flows meet our profiles and settings.

- The Facebook app comes from ``FACEBOOK_APP_ID``/``FACEBOOK_APP_SECRET``, read on every
  request (never the database), so the sandbox and the tests can point it elsewhere.
- A confirmed e-mail address, or any Facebook login, creates or refreshes the
  ``Profile`` (a name typed at signup counts only once the address is confirmed there).
- A failed Facebook login is one clear page, with the status that says what happened
  (503 Facebook unreachable, 400 refused), never a 500.
"""

import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base.constants import AuthError
from django.conf import settings
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from requests import RequestException

from core.client_address import client_address
from groups import services
from groups.errors import FacebookTokenRefused, FacebookUnavailable
from groups.facebook_login.views import FacebookLoginFailed
from groups.forms import signup_profile_create

logger = logging.getLogger(__name__)

FACEBOOK = "facebook"


class AccountAdapter(DefaultAccountAdapter):
    """The e-mail side: allauth's defaults (the profile is made when the address is
    confirmed: ``email_confirmed_profile_create``)."""

    def get_client_ip(self, request) -> str:
        # allauth's rate limits count by this address: the one every other limit uses
        # (TRUSTED_PROXIES), not allauth's own reading of X-Forwarded-For.
        return client_address(request) or super().get_client_ip(request)

    def send_account_already_exists_mail(self, email: str) -> None:
        """A signup with an address whose account is confirmed: the page stays the same
        (no probing of addresses), and the mail offers a login code, never a password
        reset (there are no passwords; docs/identity.md, "Signing up again")."""
        from allauth.core import context
        from django.urls import reverse

        url = context.request.build_absolute_uri(reverse("account_request_login_code"))
        self.send_mail(
            "account/email/account_already_exists",
            email,
            {"email": email, "login_code_url": url},
        )


def email_confirmed_profile_create(sender, request, email_address, **kwargs) -> None:
    """allauth's ``email_confirmed``, sent whichever way the address was proved (the
    signup's code, or a login code sent to an address never confirmed): the profile is made
    now, never before, with the signup's name only in the browser that signed up (see
    ``groups.forms``). Connected in ``GroupsConfig.ready``."""
    signup_profile_create(request, user=email_address.user)


def _facebook_profile_save(request, sociallogin, user) -> None:
    if sociallogin.account.provider != FACEBOOK:
        return
    data = sociallogin.account.extra_data or {}
    picture = (data.get("picture") or {}).get("data") or {}
    services.profile_create_or_update_from_facebook(
        user=user,
        facebook_id=str(sociallogin.account.uid),
        name=data.get("name"),
        picture_url=picture.get("url"),
        language=get_language(),
    )


def _login_error(exception, state_missing: bool) -> tuple[str, int]:
    error = exception.error if isinstance(exception, FacebookLoginFailed) else None
    if isinstance(error, FacebookTokenRefused):
        return (
            _(
                "Facebook did not confirm this login, so we refused it. "
                "Please try again from this page."
            ),
            400,
        )
    if isinstance(error, FacebookUnavailable) or isinstance(exception, RequestException):
        return (
            _(
                "Facebook cannot be reached right now. Please try again in a moment, "
                "or continue with your e-mail address."
            ),
            503,
        )
    if state_missing:
        return (
            _(
                "This login did not start here, or it took too long. "
                "Please start again from this page."
            ),
            400,
        )
    return (
        _("Facebook login did not work. Please try again, or continue with your e-mail."),
        400,
    )


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request, provider=None, client_id=None):
        """Our one app, from the settings: none when no app id is configured."""
        app_id, secret = settings.FACEBOOK_APP_ID, settings.FACEBOOK_APP_SECRET
        if not app_id or not secret or provider not in (None, FACEBOOK):
            return []
        if client_id is not None and client_id != app_id:
            return []
        return [SocialApp(provider=FACEBOOK, name="Facebook", client_id=app_id, secret=secret)]

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        _facebook_profile_save(request, sociallogin, user)
        return user

    def pre_social_login(self, request, sociallogin) -> None:
        # Someone who logged in before: refresh their name and picture from Facebook.
        if sociallogin.is_existing:
            _facebook_profile_save(request, sociallogin, sociallogin.user)

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ) -> None:
        if error == AuthError.CANCELLED:
            return  # allauth's "login cancelled" page
        extra_context = extra_context or {}
        state_missing = exception is None and "state_id" in extra_context
        message, status = _login_error(exception, state_missing)
        logger.warning(
            "Facebook login failed: error=%s exception=%r state_missing=%s",
            error,
            exception,
            state_missing,
        )
        raise ImmediateHttpResponse(
            render(
                request,
                "socialaccount/authentication_error.html",
                {"login_error_message": message},
                status=status,
            )
        )
