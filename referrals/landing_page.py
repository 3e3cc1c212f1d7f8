"""The landing page ``/r/<code>/`` as HTML, cheap enough for every visit and preview.

The link's parts of the page (``LinkPage``: the title, the Open Graph and Twitter tags
and the card) are rendered *without* the request (``_landing_head.html``,
``_landing_card.html``) from ``selectors.landing_get``, with the link's id and channel (all
a click needs), and cached: one entry per code, local day, language, site origin (the
tags' absolute URLs), incentive switch and Facebook app id, kept ``LANDING_CACHE_SECONDS``
like the landing's data, so a visit reads no model once the code has been seen. The page
around them (``landing.html`` extending ``base.html``) is rendered for each request as any
page is: its CSRF token, its path, its consent banner and its nonce are the request's.

Staleness: the link's parts are read from ``landing_get`` (itself cached
``LANDING_CACHE_SECONDS``) and kept as long again, so a change to the trip (a traveller,
a cancellation, the group made private) shows within two minutes at most; a new day, a
language, another host, the incentive switch or the app id are other keys and show at
once.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from referrals import services
from referrals.images import image_lines
from referrals.selectors import LANDING_CACHE_SECONDS, check_code, landing_get
from referrals.share_targets import incentive_disclosure

TEMPLATE = "referrals/landing.html"
HEAD_TEMPLATE = "referrals/_landing_head.html"
CARD_TEMPLATE = "referrals/_landing_card.html"

# --- The link's parts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkPage:
    """What one link's landing page shows in one language for one site origin, as HTML
    already escaped, and what a click on it needs to know."""

    link_id: int
    channel: str
    title: str
    head: str
    card: str


def _link_page_key(request, code: str, today) -> str:
    return ".".join(
        (
            "referrals.landing.page",
            code,
            today.isoformat(),
            translation.get_language() or "",
            "incentive" if services.incentive_on() else "plain",
            str(settings.FACEBOOK_APP_ID or "-"),
            # The tags carry absolute URLs; the host is one ALLOWED_HOSTS let through.
            f"{request.scheme}://{request.get_host()}",
        )
    )


def link_page_get(request, code: str) -> LinkPage:
    """The link's parts of its page in the active language: from the cache (no query),
    else rendered from ``landing_get``. ``ShareLinkNotFound`` for an unknown code, and
    for a malformed one before the cache and any query."""
    check_code(code)
    today = timezone.localdate()
    key = _link_page_key(request, code, today)
    page = cache.get(key)
    if page is None:
        page = _link_page_render(request, landing_get(code=code, today=today), code=code)
        cache.set(key, page, LANDING_CACHE_SECONDS)
    return page


def _link_page_render(request, landing, *, code: str) -> LinkPage:
    lines = image_lines(landing)
    context = {
        "landing": landing,
        "lines": lines,
        "page_url": request.build_absolute_uri(reverse("referral_landing", args=[code])),
        "image_url": request.build_absolute_uri(reverse("referral_image", args=[code])),
        "facebook_app_id": settings.FACEBOOK_APP_ID,
        # The Share Dialog carries no words of ours: with incentives on, the card
        # (og:description) and the page are where friends learn the sharer is rewarded.
        "disclosure": incentive_disclosure() if services.incentive_on() else "",
    }
    return LinkPage(
        link_id=landing.link.pk,
        channel=landing.link.channel,
        title=str(conditional_escape(lines["title"])),
        head=render_to_string(HEAD_TEMPLATE, context).strip(),
        card=render_to_string(CARD_TEMPLATE, context).strip(),
    )


# --- The page -------------------------------------------------------------------------------


def page_html(request, page: LinkPage, *, referral_visitor: bool) -> str:
    """The whole page for this request around the link's cached parts. ``referral_visitor``:
    this very request made the browser's visitor (the banner asks, though its cookie only
    comes with the answer)."""
    return render_to_string(
        TEMPLATE,
        {
            "landing_title": mark_safe(page.title),  # noqa: S308 (escaped when rendered)
            "landing_head": mark_safe(page.head),  # noqa: S308
            "landing_card": mark_safe(page.card),  # noqa: S308
            "referral_visitor": referral_visitor,
        },
        request=request,
    )
