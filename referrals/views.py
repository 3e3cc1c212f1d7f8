"""The public doors of a share link: its landing page ``/r/<code>/`` (what a link crawler
reads to draw the card, and what a friend lands on), its picture, and the consent form.

Reachable without login. A bad code is the site's friendly 404 page (``Http404`` goes to
the project's ``handler404``).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from core.errors import DomainError
from referrals import attribution, landing_page, services
from referrals.errors import ShareLinkNotFound
from referrals.images import share_image_png
from referrals.models import Consent
from referrals.selectors import landing_for, landing_get, share_preview_get
from referrals.share_targets import share_target_url, share_text

# 13 months: the longest a consent choice may be remembered before asking again (CNIL).
CONSENT_MAX_AGE = 395 * 24 * 3600


def _cookie_options() -> dict:
    return {
        "max_age": CONSENT_MAX_AGE,
        "samesite": "Lax",
        "secure": settings.SESSION_COOKIE_SECURE,
        "httponly": True,
    }


def _remember_visit(response, code: str) -> None:
    # No max_age: a browser-session cookie; the signer's timestamp bounds the visit.
    options = _cookie_options() | {"max_age": None}
    response.set_signed_cookie(
        services.VISIT_COOKIE, code, salt=services.VISIT_COOKIE_SALT, **options
    )


def _remember_visitor_for_session(response, visitor) -> None:
    # Without consent: no max_age, so the browser forgets the key when its session ends.
    response.set_signed_cookie(
        services.VISITOR_SESSION_COOKIE,
        visitor.key,
        salt=services.VISITOR_SESSION_COOKIE_SALT,
        **(_cookie_options() | {"max_age": None}),
    )


def _remember_visitor(response, visitor) -> None:
    response.set_signed_cookie(
        services.VISITOR_COOKIE,
        visitor.key,
        salt=services.VISITOR_COOKIE_SALT,
        **_cookie_options(),
    )


@require_safe
@never_cache
def landing(request, code: str):
    try:
        # The link's parts of the page and what its click needs, from one cache entry
        # (no query, no model once the code has been seen): referrals/landing_page.py.
        page = landing_page.link_page_get(request, code)
    except ShareLinkNotFound as exc:
        raise Http404(str(exc.message)) from exc
    outcome = None
    if request.method == "GET":  # HEAD: answer, count nothing
        outcome = services.click_record(
            request, link_id=page.link_id, channel=page.channel, code=code
        )
    visitor = outcome.visitor if outcome is not None else None
    # The consent banner asks a browser with a visitor: this one may have got it now.
    response = HttpResponse(
        landing_page.page_html(request, page, referral_visitor=visitor is not None)
    )
    if visitor is not None and outcome.counted:
        _remember_visit(response, code)
    if visitor is not None and request.user.is_authenticated:
        # Someone logged in follows a friend's link: no login will tell us this browser is
        # theirs, so say it now (what they book later can be credited to the share).
        attribution.visitor_link(request=request, user=request.user, visitor=visitor)
    if visitor is not None:
        if services.consent_of(request) == Consent.GRANTED:
            _remember_visitor(response, visitor)
        elif outcome.new_to_browser:
            _remember_visitor_for_session(response, visitor)
    return response


@require_safe
def image(request, code: str):
    try:
        landing = landing_get(code=code)
    except ShareLinkNotFound as exc:
        raise Http404(str(exc.message)) from exc
    response = HttpResponse(share_image_png(landing), content_type="image/png")
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_POST
def consent(request):
    """Accept or Refuse from the banner (a plain form: no script needed)."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("home")
    decision = request.POST.get("decision", "")
    try:
        visitor = services.consent_record(request=request, decision=decision)
    except DomainError as exc:
        return HttpResponse(str(exc.message), status=exc.status, content_type="text/plain")
    response = redirect(target)
    options = _cookie_options()
    if decision == Consent.REFUSED:
        # "We forget you at the end of your session": the refusal itself is kept for the
        # session only (the banner asks again next time), and so is the session
        # (RefusedConsentSessionMiddleware turns it into a browser-session cookie).
        options["max_age"] = None
    response.set_cookie(services.CONSENT_COOKIE, decision, **options)
    if decision == Consent.GRANTED and visitor is not None:
        _remember_visitor(response, visitor)
    else:
        response.delete_cookie(services.VISITOR_COOKIE, samesite="Lax")
    return response


# --- Share buttons of a booked trip (frontend/trips/_share.html) ----------------------------


class _ShareRedirect(HttpResponseRedirect):
    # Messenger's phone app opens from its own scheme.
    allowed_schemes = ["http", "https", "fb-messenger"]


@login_required
@require_POST
def share(request, trip_id: int, channel: str):
    """A share button: the traveller's link for the channel (made on first use), one
    share intent counted, then the network's share page with that link. Copy and the
    browser's share menu stay here: the page (or, for the menu, the script asking for
    JSON) gets the link."""
    try:
        link = services.share_intent_record(trip_id=trip_id, sharer=request.user, channel=channel)
    except DomainError as exc:
        if exc.status == 404:
            raise Http404(str(exc.message)) from exc
        return HttpResponse(str(exc.message), status=exc.status, content_type="text/plain")
    link_url = request.build_absolute_uri(reverse("referral_landing", args=[link.code]))
    trip_url = request.build_absolute_uri(reverse("trip", args=[trip_id]))
    text = share_text(landing_for(link=link))
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"url": link_url, "text": text, "channel": link.channel})
    target = share_target_url(
        channel=link.channel,
        link_url=link_url,
        trip_url=trip_url,
        text=text,
        device=request.POST.get("device", ""),
    )
    return _ShareRedirect(target or f"{reverse('trip', args=[trip_id])}#share")


@login_required
@require_safe
def share_preview(request, trip_id: int):
    """The card's picture for the trip's own travellers, before any link exists."""
    try:
        landing = share_preview_get(user=request.user, trip_id=trip_id)
    except DomainError as exc:
        raise Http404(str(exc.message)) from exc
    response = HttpResponse(share_image_png(landing), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
