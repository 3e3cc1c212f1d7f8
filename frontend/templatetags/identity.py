"""Who is logged in, and how the login page offers Facebook, for the templates.

Reads through ``groups.selectors`` like any other page; decides nothing."""

from django import template
from django.utils.http import url_has_allowed_host_and_scheme

from groups import selectors

register = template.Library()


@register.simple_tag
def display_name(user) -> str:
    """The name to show in the header: the profile's, else the e-mail address."""
    return selectors.user_display_name(user=user)


@register.simple_tag
def facebook_login_state() -> selectors.FacebookLoginState:
    return selectors.facebook_login_state()


@register.simple_tag(takes_context=True)
def login_next(context) -> str:
    """Where the header's "Log in" link brings the person back: the page they are on; on
    the account pages themselves (login, sign-up, code), the page those were already
    going back to, so ``next`` is never nested (``/accounts/login/?next=/accounts/login/
    %3Fnext%3D…``)."""
    request = context.get("request")
    if request is None:
        return ""
    if request.path.startswith("/accounts/"):
        target = request.GET.get("next", "")
        allowed = url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return target if allowed and not target.startswith("/accounts/") else ""
    return request.get_full_path()
