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
    link: ShareLink
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

    @property
    def date_range(self) -> bool:
        return self.outbound_to != self.outbound_from


def landing_get(*, code: str, today: dt.date | None = None) -> Landing:
    """What the landing page and its image show (two queries)."""
    return landing_for(link=share_link_get(code=code), today=today)


def landing_for(*, link: ShareLink, today: dt.date | None = None) -> Landing:
    """``landing_get`` for a link already read with ``share_link_get`` (one query)."""
    trip = link.trip
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
    )
