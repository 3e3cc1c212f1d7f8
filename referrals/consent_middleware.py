"""A refusal on the consent banner holds for every cookie we set, the session's included.

The banner promises "we forget you at the end of your session". Django's session cookie
lives two weeks by default, and allauth's "remember me" (``ACCOUNT_SESSION_REMEMBER``)
sets that age again at each login; so after the view, a browser that refused gets its
session turned into a browser-session cookie (``set_expiry(0)``), whenever it has one.
A browser without a session gets none made here.
"""

from referrals.models import Consent
from referrals.services import CONSENT_COOKIE, consent_of


def _refused(request, response) -> bool:
    decided = response.cookies.get(CONSENT_COOKIE)
    if decided is not None and decided.value:
        return decided.value == Consent.REFUSED
    return consent_of(request) == Consent.REFUSED


class RefusedConsentSessionMiddleware:
    """Listed after ``SessionMiddleware`` (and the login middlewares), so it runs on the
    response before the session is saved and its cookie written."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if (
            session is not None
            and (session.modified or session.session_key)
            and not session.get_expire_at_browser_close()
            and _refused(request, response)
        ):
            session.set_expiry(0)
        return response
