from django import template

from referrals.models import Consent
from referrals.services import consent_of

register = template.Library()


@register.simple_tag(takes_context=True)
def consent_asked(context) -> bool:
    """Whether the banner should ask: no decision remembered by this browser yet."""
    request = context.get("request")
    return request is not None and consent_of(request) == Consent.UNKNOWN
