"""Reads: a share link by its code, and what its public landing page may show.

The landing page is public (link crawlers fetch it without any login), so ``Landing``
holds only what the sharer chose to make public by sharing: the route or the event, the
dates and how many travellers there are. Never a name, the trip's title (organisers put
names in it) or anything else of the group.
"""

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from booking.selectors import trip_member_counts
from groups.models import FriendGroup
from referrals.errors import ShareLinkNotFound
from referrals.models import CODE_LENGTH, ShareLink

_CODE = re.compile(rf"^[A-Za-z0-9_-]{{{CODE_LENGTH}}}$")


def share_link_get(*, code: str) -> ShareLink:
    """The link with its trip, stations, event and group (one query). A malformed code is
    refused before any query; both it and an unknown one are ``ShareLinkNotFound``."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise ShareLinkNotFound()
    link = (
        ShareLink.objects.select_related(
            "trip__origin", "trip__destination", "trip__event", "trip__group"
        )
        .filter(code=code)
        .first()
    )
    if link is None:
        raise ShareLinkNotFound()
    return link


@dataclass(frozen=True)
class Landing:
    # None for the sharer's preview, before any link is made.
    link: ShareLink | None
    origin_name: str
    destination_name: str
    event_name: str
    outbound_from: dt.date
    outbound_to: dt.date
    travellers: int
    # Where "Plan the same trip" goes: the event's page, or the search prefilled.
    plan_url: str
    # The trip's page when its group is public (anyone may ask to join), else "".
    join_url: str
    trip_id: int = 0

    @property
    def date_range(self) -> bool:
        return self.outbound_to != self.outbound_from


def landing_get(*, code: str, today: dt.date | None = None) -> Landing:
    """What the landing page and its image show (two queries)."""
    return landing_for(link=share_link_get(code=code), today=today)


def landing_for(*, link: ShareLink, today: dt.date | None = None) -> Landing:
    """``landing_get`` for a link already read with ``share_link_get`` (one query)."""
    return _landing(trip=link.trip, link=link, today=today)


def _landing(*, trip, link: ShareLink | None, today: dt.date | None = None) -> Landing:
    today = today or timezone.localdate()
    travellers = trip_member_counts(group_ids=[trip.group_id]).get(trip.group_id, 0)
    if trip.event_id:
        plan_url = reverse("event", kwargs={"slug": trip.event.slug})
    else:
        query = {"origin": trip.origin.code, "destination": trip.destination.code}
        # A trip in the past still suggests the route; the search then starts today.
        if trip.outbound_from >= today:
            query["date"] = trip.outbound_from.isoformat()
        plan_url = f"{reverse('home')}?{urlencode(query)}"
    join_url = ""
    if trip.group.privacy == FriendGroup.Privacy.PUBLIC and trip.status in (trip.Status.PLANNING,):
        join_url = reverse("trip", kwargs={"trip_id": trip.pk})
    return Landing(
        link=link,
        origin_name=trip.origin.city or trip.origin.name,
        destination_name=trip.destination.city or trip.destination.name,
        event_name=trip.event.name if trip.event_id else "",
        outbound_from=trip.outbound_from,
        outbound_to=trip.outbound_to,
        travellers=travellers,
        plan_url=plan_url,
        join_url=join_url,
        trip_id=trip.pk,
    )


# --- Sharing after booking (the trip page's "Share your trip" panel) ----------------------


@dataclass(frozen=True)
class SharePanel:
    """What a traveller of a booked trip sees before sharing: the card exactly as the
    landing page and its picture will show it (``landing``), and their copy link once
    they asked for one."""

    landing: Landing
    copy_url: str


def share_panel_get(*, trip, user) -> SharePanel | None:
    """The panel for an active traveller of a booked trip, else None (two queries)."""
    from booking.models import Trip
    from groups.models import Membership

    if trip is None or user is None or not user.is_authenticated:
        return None
    if trip.status != Trip.Status.BOOKED:
        return None
    if not Membership.objects.filter(
        group_id=trip.group_id, user=user, status=Membership.Status.ACTIVE
    ).exists():
        return None
    copy = ShareLink.objects.filter(trip=trip, sharer=user, channel="copy").first()
    return SharePanel(
        landing=_landing(trip=trip, link=None),
        copy_url=reverse("referral_landing", args=[copy.code]) if copy else "",
    )


def share_preview_get(*, user, trip_id: int) -> Landing:
    """The card of a trip for one of its active travellers (the picture of the panel).
    ``TripNotFound`` for anyone else, as for a trip that does not exist."""
    from booking.errors import TripNotFound
    from booking.selectors import trip_get_for

    view = trip_get_for(user=user, trip_id=trip_id)
    if not view.access.is_member:
        raise TripNotFound()
    return _landing(trip=view.trip, link=None)
