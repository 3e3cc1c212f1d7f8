"""The landing page ``/r/<code>/`` as HTML, cheap enough for every visit and preview.

Rendering the whole page (the site's frame in ``base.html``: header, language switcher,
consent banner, footer) took about as long as everything else a visit does. Almost none
of it changes from one visitor to the next, so the page is built from two cached parts:

- **The link's parts** (``LinkPage``): the title, the Open Graph and Twitter tags and the
  card, rendered *without* the request (``_landing_head.html``, ``_landing_card.html``)
  from ``selectors.landing_get``, with the link's id and channel (all a click needs). One
  cache entry per code, local day, language, site origin (the tags' absolute URLs),
  incentive switch and Facebook app id, kept ``LANDING_CACHE_SECONDS`` like the landing's
  data: a request reads it and no model.
- **The frame** (``landing.html`` extending ``base.html``) for an anonymous visitor with no
  message waiting, per language and consent banner (shown or not): rendered once with
  placeholders where each request differs — the CSRF token of its forms and the page's
  own path (the ``next`` of the language switcher and the banner, the login link's
  ``next``) — and kept in this process ``FRAME_SECONDS`` as its literal pieces.

A request joins the frame's pieces with the link's parts, its own masked CSRF token
(``get_token``, which also has the middleware set the CSRF cookie, as ``{% csrf_token %}``
does) and its escaped path. Someone logged in (their name and the logout form) or with a
message waiting gets the frame rendered for them around the same cached parts.

Staleness: the link's parts are read from ``landing_get`` (itself cached
``LANDING_CACHE_SECONDS``) and kept as long again, so a change to the trip (a traveller,
a cancellation, the group made private) shows within two minutes at most; a new day, a
language, another host, the incentive switch or the app id are other keys and show at
once. The frame holds no data of any link; it is dropped when a setting changes (tests).

With SQLite the view also runs on a connection kept for the process rather than a new one
per request (``kept_sqlite_connection``, below).
"""

import contextlib
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.middleware.csrf import get_token
from django.template.defaultfilters import urlencode
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe

from referrals import services
from referrals.images import image_lines
from referrals.selectors import LANDING_CACHE_SECONDS, check_code, landing_get
from referrals.share_targets import incentive_disclosure
from referrals.templatetags.referrals_consent import consent_asked

TEMPLATE = "frontend/referrals/landing.html"
HEAD_TEMPLATE = "frontend/referrals/_landing_head.html"
CARD_TEMPLATE = "frontend/referrals/_landing_card.html"

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


# --- The frame ------------------------------------------------------------------------------

# Kept per process: it depends on the templates, the translations and the settings only.
FRAME_SECONDS = 60

# Placeholders rendered into the frame, then cut out. A control character no template or
# translation holds; Django's escaping leaves it as it is, its ``urlencode`` filter writes it
# %1E (the login link's ``next``).
_MARK = "\x1e"
_SLOT = re.compile(r"\x1e(\w+)\x1e|%1E(\w+)%1E")
_SLOT_NAMES = {"title", "head", "card", "csrf", "path", "path_urlencoded"}


def _slot(name: str) -> str:
    return f"{_MARK}{name}{_MARK}"


class _RequestWithPlaceholderPath:
    """The request as the frame's template sees it, its path a placeholder: everything
    else (cookies, session, the consent banner's question) is the visitor's own."""

    def __init__(self, request):
        self._request = request

    def __getattr__(self, name):
        return getattr(self._request, name)

    def get_full_path(self, force_append_slash=False):
        return _slot("path")


_frames: dict[tuple[str, bool], tuple[float, tuple[str, ...]]] = {}


def _forget_frames(**kwargs) -> None:
    _frames.clear()


setting_changed.connect(_forget_frames, dispatch_uid="referrals.landing_page.frames")


def _frame_render(request, *, referral_visitor: bool) -> tuple[str, ...] | None:
    """The frame's pieces: literal HTML at even positions, slot names at odd ones. None
    when a placeholder came out in a form this code does not know (the page is then
    rendered in full, as for someone logged in)."""
    html = render_to_string(
        TEMPLATE,
        {
            "landing_title": _slot("title"),
            "landing_head": _slot("head"),
            "landing_card": _slot("card"),
            "csrf_token": _slot("csrf"),
            "request": _RequestWithPlaceholderPath(request),
            "referral_visitor": referral_visitor,
        },
        request=request,
    )
    pieces, start = [], 0
    for match in _SLOT.finditer(html):
        pieces.append(html[start : match.start()])
        pieces.append(match.group(1) or f"{match.group(2)}_urlencoded")
        start = match.end()
    pieces.append(html[start:])
    if any(_MARK in piece for piece in pieces[::2]) or not set(pieces[1::2]) <= _SLOT_NAMES:
        return None
    return tuple(pieces)


def _frame_get(request, *, banner: bool, referral_visitor: bool) -> tuple[str, ...] | None:
    key = (translation.get_language() or "", banner)
    now = time.monotonic()
    kept = _frames.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]
    pieces = _frame_render(request, referral_visitor=referral_visitor)
    if pieces is not None:
        _frames[key] = (now + FRAME_SECONDS, pieces)
    return pieces


# --- The page -------------------------------------------------------------------------------


def page_html(request, page: LinkPage, *, referral_visitor: bool) -> str:
    """The whole page for this request. ``referral_visitor``: this very request made the
    browser's visitor (the banner asks, though its cookie only comes with the answer)."""
    # The same question the banner's own tag asks of this request: the frame differs by it.
    banner = consent_asked({"request": request, "referral_visitor": referral_visitor})
    pieces = None
    if not request.user.is_authenticated and not len(get_messages(request)):
        pieces = _frame_get(request, banner=banner, referral_visitor=referral_visitor)
    if pieces is None:
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
    path = request.get_full_path()
    values = {
        "title": page.title,
        "head": page.head,
        "card": page.card,
        # One masked token for every form of the page, as {% csrf_token %} gives.
        "csrf": get_token(request),
        "path": escape(path),
        "path_urlencoded": escape(urlencode(path)),
    }
    out = list(pieces)
    out[1::2] = [values[name] for name in pieces[1::2]]
    return "".join(out)


# --- The database connection ----------------------------------------------------------------
#
# Under ASGI every request runs its synchronous code on a thread of its own, so each one
# opened a new database connection and closed it at the end. With PostgreSQL the driver's
# pool makes that cheap. With SQLite (the default, one-machine set-up) a new connection
# parses the whole schema on its first statement and its close may checkpoint the WAL:
# about 3 ms of CPU, more than the rest of a landing request. The landing therefore keeps
# one SQLite connection for the process and lends it to one landing request at a time
# (SQLite takes one writer at a time anyway, and the view holds the GIL for most of its
# millisecond). The request's own connection is left alone when it is already open or
# inside a transaction (a test's, ATOMIC_REQUESTS): the view then runs on it as before.

_kept: dict[str, object] = {}
_kept_lock = threading.Lock()


@contextlib.contextmanager
def kept_sqlite_connection(alias: str = DEFAULT_DB_ALIAS):
    """For the block, ``connections[alias]`` of this thread is the process's kept SQLite
    connection (made on first use); anything else passes through unchanged."""
    own = connections[alias]
    if own.vendor != "sqlite" or own.connection is not None or own.in_atomic_block:
        yield
        return
    with _kept_lock:
        kept = _kept.get(alias)
        if kept is None:
            kept = _kept[alias] = connections.create_connection(alias)
            kept.inc_thread_sharing()  # lent to each request's thread in turn
        connections[alias] = kept
        try:
            yield
        finally:
            connections[alias] = own
            _kept_connection_check(kept)


def _kept_connection_check(kept) -> None:
    # What Django checks at the end of a request (close_if_unusable_or_obsolete), minus
    # the age: a connection left in a transaction, or broken, is closed (the next request
    # opens a new one).
    if kept.connection is None:
        return
    if kept.in_atomic_block or not kept.get_autocommit():
        kept.close()
    elif kept.errors_occurred:
        if kept.is_usable():
            kept.errors_occurred = False
        else:
            kept.close()
