"""``push``: what the trip page's notification opt-in needs from the settings."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def push_public_key() -> str:
    """The VAPID public key (the browser's ``applicationServerKey``); empty when this
    install has no Web Push, and then no opt-in is offered."""
    return settings.VAPID_PUBLIC_KEY if settings.VAPID_PRIVATE_KEY else ""
