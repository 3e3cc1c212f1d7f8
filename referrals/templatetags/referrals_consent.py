from django import template

from referrals.models import Consent
from referrals.services import consent_of, visitor_known

register = template.Library()


@register.simple_tag(takes_context=True)
def consent_asked(context) -> bool:
    """Whether the banner should ask: this browser came through a friend's shared link
    (only then is there anything to remember) and has not decided yet. Other visitors
    are never asked: nothing of theirs is tracked."""
    request = context.get("request")
    if request is None or consent_of(request) != Consent.UNKNOWN:
        return False
    # ``referral_visitor``: the landing page that has just made this browser's visitor
    # (its cookie comes with this very response).
    return bool(context.get("referral_visitor")) or visitor_known(request)
