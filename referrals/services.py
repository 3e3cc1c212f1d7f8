"""Writes: making share links, recording clicks, remembering a visitor's consent.

A click is one INSERT (plus one for a browser never seen before, its ``Visitor``). The
dashboard never reads clicks directly: ``referrals.rollups`` folds them into daily rows.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_ratelimit.core import get_usage

from booking.errors import TripNotFound
from booking.models import Trip
from groups.models import Membership
from referrals import tracking
from referrals.errors import (
    NotATraveller,
    TripNotShareable,
    UnknownChannel,
    UnknownConsentDecision,
)
from referrals.models import (
    Click,
    Consent,
    ShareChannel,
    ShareIntent,
    ShareLink,
    Visitor,
    new_share_code,
)
from referrals.selectors import share_link_get

log = logging.getLogger(__name__)

CONSENT_COOKIE = "sbs_consent"
VISITOR_COOKIE = "sbs_vid"
VISITOR_COOKIE_SALT = "sidebyside.referrals.vid"
# Without consent the visitor's key lives here, so it ends with the session.
VISITOR_SESSION_KEY = "referrals_vid"


# --- Share links --------------------------------------------------------------------------


def share_link_get_or_create(*, trip_id: int, sharer, channel: str) -> ShareLink:
    """The sharer's link for this trip and channel, made on first use. Only an active
    traveller of the trip may share it: anyone else gets ``TripNotFound`` when the trip
    is not public to them and ``NotATraveller`` when it is (a public trip)."""
    if channel not in ShareChannel.values:
        raise UnknownChannel(fields={"channel": [UnknownChannel.default_message]})
    trip = Trip.objects.select_related("group").filter(pk=trip_id).first()
    if trip is None or sharer is None or not sharer.is_authenticated:
        raise TripNotFound()
    status = (
        Membership.objects.filter(group_id=trip.group_id, user=sharer)
        .values_list("status", flat=True)
        .first()
    )
    if status != Membership.Status.ACTIVE:
        if status is None and trip.group.privacy != trip.group.Privacy.PUBLIC:
            raise TripNotFound()
        raise NotATraveller()
    if trip.status == Trip.Status.CANCELLED:
        raise TripNotShareable()
    existing = ShareLink.objects.filter(trip=trip, sharer=sharer, channel=channel).first()
    if existing is not None:
        return existing
    # Two taps at once both miss above: the unique constraint lets one win, the other reads
    # it. A (72-bit) code collision is retried with a new code.
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return ShareLink.objects.create(
                    trip=trip, sharer=sharer, channel=channel, code=new_share_code()
                )
        except IntegrityError:
            existing = ShareLink.objects.filter(trip=trip, sharer=sharer, channel=channel).first()
            if existing is not None:
                return existing
    raise RuntimeError("Could not make a unique share code.")  # pragma: no cover


@transaction.atomic
def share_intent_record(*, trip_id: int, sharer, channel: str) -> ShareLink:
    """A press of a share button: the sharer's link for the channel (made on first use,
    with the rules of ``share_link_get_or_create``) and one ``ShareIntent`` row. Sharing
    comes after booking: a trip not booked yet is ``TripNotShareable`` and nothing is
    written (the traveller checks come first, so a stranger still learns nothing)."""
    link = share_link_get_or_create(trip_id=trip_id, sharer=sharer, channel=channel)
    if link.trip.status != Trip.Status.BOOKED:
        raise TripNotShareable(TripNotShareable.not_booked_message)
    ShareIntent.objects.create(link=link, channel=link.channel, at=timezone.now())
    return link


# --- Visitors and consent -----------------------------------------------------------------


def consent_of(request) -> str:
    value = request.COOKIES.get(CONSENT_COOKIE, "")
    return value if value in (Consent.GRANTED, Consent.REFUSED) else Consent.UNKNOWN


def _visitor_key(request, consent: str) -> str | None:
    """The key this browser already has: the signed first-party cookie with consent, the
    session otherwise (and as a fallback: a session may predate the consent)."""
    if consent == Consent.GRANTED:
        key = request.get_signed_cookie(VISITOR_COOKIE, default=None, salt=VISITOR_COOKIE_SALT)
        if key:
            return key
    session = getattr(request, "session", None)
    return session.get(VISITOR_SESSION_KEY) if session is not None else None


def visitor_of(request) -> Visitor | None:
    """The visitor this browser already is (cookie with consent, else session), or None.
    Makes nothing: a browser that never opened a share link has no visitor."""
    key = _visitor_key(request, consent_of(request))
    return Visitor.objects.filter(key=key).first() if key else None


def _visitor_for(request, consent: str) -> Visitor:
    key = _visitor_key(request, consent)
    visitor = Visitor.objects.filter(key=key).first() if key else None
    if visitor is None:
        visitor = Visitor.objects.create(consent=consent)
    if consent != Consent.GRANTED:
        request.session[VISITOR_SESSION_KEY] = visitor.key
    return visitor


def consent_record(*, request, decision: str) -> Visitor | None:
    """Remember the browser's decision on its visitor row. With consent the browser gets
    a visitor (the door then puts its key in a cookie); a refusal keeps any existing
    visitor for this session only and makes none."""
    if decision not in (Consent.GRANTED, Consent.REFUSED):
        raise UnknownConsentDecision()
    key = _visitor_key(request, consent_of(request))
    visitor = Visitor.objects.filter(key=key).first() if key else None
    if decision == Consent.GRANTED:
        if visitor is None:
            visitor = Visitor.objects.create(consent=decision)
        request.session.pop(VISITOR_SESSION_KEY, None)
    elif visitor is not None:
        request.session[VISITOR_SESSION_KEY] = visitor.key
    if visitor is not None and visitor.consent != decision:
        Visitor.objects.filter(pk=visitor.pk).update(consent=decision)
        visitor.consent = decision
    return visitor


# --- Clicks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClickOutcome:
    link: ShareLink
    is_preview: bool
    # The browser's visitor (None for a preview or an uncounted click); with consent the
    # door keeps its key in the ``sbs_vid`` cookie.
    visitor: Visitor | None = None
    counted: bool = True
    flagged: bool = False

    def __iter__(self):  # ``link, is_preview = click_record(...)``
        return iter((self.link, self.is_preview))


def _flood_usage(request, *, link: ShareLink, source: str) -> dict | None:
    return get_usage(
        request,
        group="sidebyside.referral_click",
        key=lambda _group, _request: f"{link.pk}:{source}",
        rate=settings.REFERRALS["CLICK_RATE"],
        increment=True,
    )


def click_record(request, code: str) -> ClickOutcome:
    """Count one request for ``/r/<code>/``. ``ShareLinkNotFound`` for a bad code.

    A crawler's fetch is a preview, never a visitor. Past ``REFERRALS["CLICK_RATE"]`` from
    one source (address hash) on one link, clicks are no longer counted: the first one
    over writes a single ``flagged`` row and the rollup then counts that source once for
    the day (``referrals.rollups``)."""
    link = share_link_get(code=code)
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    crawler = tracking.crawler_name(user_agent)
    is_preview = crawler is not None
    source = tracking.ip_hash(request.META.get("REMOTE_ADDR", ""))
    family = (crawler or tracking.user_agent_family(user_agent))[:40]
    row = {
        "link": link,
        "channel": link.channel,
        "at": timezone.now(),
        "is_preview": is_preview,
        "ip_hash": source,
        "user_agent_family": family,
    }
    usage = _flood_usage(request, link=link, source=source)
    if usage is not None and usage["should_limit"]:
        flagged = usage["count"] == usage["limit"] + 1
        if flagged:
            Click.objects.create(**row, flagged=True)
            log.warning("Click flood on share link %s from one source: flagged.", link.pk)
        return ClickOutcome(link=link, is_preview=is_preview, counted=False, flagged=flagged)
    if is_preview:
        Click.objects.create(**row)
        return ClickOutcome(link=link, is_preview=True)
    consent = consent_of(request)
    visitor = _visitor_for(request, consent)
    Click.objects.create(**row, visitor=visitor)
    return ClickOutcome(link=link, is_preview=False, visitor=visitor)
