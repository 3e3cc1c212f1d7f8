"""One language per person, on every device (issue 22, point 9). A person who chose a
language on their account (``Profile.preferred_language``) gets it on a browser that has no
language cookie yet: at login the choice goes into the session, and the next response sets
the language cookie that every page, API error and live-plan socket then reads (Django's
``LocaleMiddleware`` and ``booking.consumers.scope_language``). A cookie already there (the
header's switch, the account page) wins: it is the person's latest word on that browser.
"""

from django.conf import settings
from django.utils import translation

from groups.selectors import languages_of

SESSION_KEY = "profile_language"


def remember_on_login(sender, request, user, **kwargs) -> None:
    """``user_logged_in``: the person's chosen language, kept in the session."""
    if request is None or not hasattr(request, "session"):
        return
    language = languages_of([user.pk]).get(user.pk, "")
    if language:
        request.session[SESSION_KEY] = language
    else:
        request.session.pop(SESSION_KEY, None)


class ProfileLanguageMiddleware:
    """After the session, login and locale middlewares: no query of its own (the session is
    read anyway)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = ""
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES and hasattr(request, "session"):
            language = request.session.get(SESSION_KEY, "")
            if language not in dict(settings.LANGUAGES):
                language = ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if language:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax",
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            )
        return response
