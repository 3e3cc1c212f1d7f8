"""Who is logged in, and how the login page offers Facebook, for the templates.

Reads through ``groups.selectors`` like any other page; decides nothing."""

from django import template

from groups import selectors

register = template.Library()


@register.simple_tag
def display_name(user) -> str:
    """The name to show in the header: the profile's, else the e-mail address."""
    return selectors.user_display_name(user=user)


@register.simple_tag
def facebook_login_state() -> selectors.FacebookLoginState:
    return selectors.facebook_login_state()
