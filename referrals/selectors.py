"""Reads: a share link by its code, and what its public landing page may show.

The landing page is public (link crawlers fetch it without any login), so ``Landing``
holds only what the sharer chose to make public by sharing: the route or the event, the
dates and how many travellers there are. Never a name, the trip's title (organisers put
names in it) or anything else of the group.
"""

import contextlib
import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router, transaction
from django.db.models import Count, F, Q, Sum
from django.urls import reverse
from django.utils import timezone

from booking.models import TripLeg
from booking.selectors import trip_member_counts
from groups.models import FriendGroup
from referrals.errors import ShareLinkNotFound
from referrals.models import CODE_LENGTH, Reward, RewardUse, RollupRun, ShareLink

_CODE = re.compile(rf"^[A-Za-z0-9_-]{{{CODE_LENGTH}}}$")


def check_code(code) -> None:
    """Refuse a malformed share code (``ShareLinkNotFound``) before any cache or query: a
    code that passes is always 12 URL-safe characters, fit for a cache key."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise ShareLinkNotFound()


def share_link_get(*, code: str) -> ShareLink:
    """The link with its trip, stations, event and group (one query). A malformed code is
    refused before any query; both it and an unknown one are ``ShareLinkNotFound``. The
    landing page reads it through its cache (``landing_get``)."""
    check_code(code)
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
    # The outbound train once chosen (booked trips are the ones shared): its departure in
    # its station's time zone and its number; None and "" before.
    departs_at: dt.datetime | None = None
    train: str = ""

    @property
    def date_range(self) -> bool:
        return self.outbound_to != self.outbound_from


# The landing page is the hot path of sharing (every visit and every crawler preview): its
# public data is kept per code this long, so a click costs its INSERT and no read. A new
# traveller, a cancelled trip or a group made private shows within this delay.
LANDING_CACHE_SECONDS = 60


def _landing_cache_key(code: str, today: dt.date) -> str:
    # The day is part of the key: the "plan the same trip" link drops a date once it passed.
    return f"referrals.landing.{code}.{today.isoformat()}"


def landing_get(*, code: str, today: dt.date | None = None) -> Landing:
    """What the landing page and its image show: from the cache (no query), else one
    read (``_landing_read``), then kept ``LANDING_CACHE_SECONDS``.
    A malformed code is refused before the cache and any query; an unknown code is not
    cached (one query each time, as before)."""
    check_code(code)
    today = today or timezone.localdate()
    key = _landing_cache_key(code, today)
    landing = cache.get(key)
    if landing is None:
        landing = _landing_read(code=code, today=today)
        cache.set(key, landing, LANDING_CACHE_SECONDS)
    return landing


def _landing_read(*, code: str, today: dt.date) -> Landing:
    """``landing_get``'s read: the link with its trip, stations, event and group, then its
    active travellers (two queries); ``ShareLinkNotFound`` for an unknown code."""
    return landing_for(link=share_link_get(code=code), today=today)


def landing_for(*, link: ShareLink, today: dt.date | None = None) -> Landing:
    """``landing_get`` for a link already read (one query: its travellers). Not cached:
    the sharer's own panel and share buttons show the card as it is now."""
    return _landing(trip=link.trip, link=link, today=today)


def _outbound_train(trip_id: int) -> tuple[dt.datetime | None, str]:
    """The outbound leg's chosen departure (one query): when it leaves, on its station's
    clock, and the train's number."""
    leg = (
        TripLeg.objects.filter(trip_id=trip_id, direction=TripLeg.Direction.OUTBOUND)
        .exclude(departure=None)
        .select_related("departure__origin")
        .first()
    )
    if leg is None:
        return None, ""
    departure = leg.departure
    zone = zoneinfo.ZoneInfo(departure.origin.time_zone)
    return departure.departs_at.astimezone(zone), departure.service_number


def _landing(*, trip, link: ShareLink | None, today: dt.date | None = None) -> Landing:
    travellers = trip_member_counts(group_ids=[trip.group_id]).get(trip.group_id, 0)
    departs_at, train = _outbound_train(trip.pk)
    return _landing_of(
        departs_at=departs_at,
        train=train,
        link=link,
        trip_id=trip.pk,
        origin=(trip.origin.code, trip.origin.city, trip.origin.name),
        destination=(trip.destination.code, trip.destination.city, trip.destination.name),
        event=(trip.event.slug, trip.event.name) if trip.event_id else None,
        outbound_from=trip.outbound_from,
        outbound_to=trip.outbound_to,
        planning=trip.status == trip.Status.PLANNING,
        public=trip.group.privacy == FriendGroup.Privacy.PUBLIC,
        travellers=travellers,
        today=today,
    )


def _landing_of(
    *,
    link: ShareLink | None,
    trip_id: int,
    origin: tuple[str, str, str],  # code, city, name
    destination: tuple[str, str, str],
    event: tuple[str, str] | None,  # slug, name
    outbound_from: dt.date,
    outbound_to: dt.date,
    planning: bool,
    public: bool,
    travellers: int,
    today: dt.date | None = None,
    departs_at: dt.datetime | None = None,
    train: str = "",
) -> Landing:
    today = today or timezone.localdate()
    if event is not None:
        plan_url = reverse("event", kwargs={"slug": event[0]})
    else:
        query = {"origin": origin[0], "destination": destination[0]}
        # A trip in the past still suggests the route; the search then starts today.
        if outbound_from >= today:
            query["date"] = outbound_from.isoformat()
        plan_url = f"{reverse('home')}?{urlencode(query)}"
    # The trip's page only while its group is public and the trip still being planned.
    join_url = reverse("trip", kwargs={"trip_id": trip_id}) if public and planning else ""
    return Landing(
        link=link,
        origin_name=origin[1] or origin[2],
        destination_name=destination[1] or destination[2],
        event_name=event[1] if event is not None else "",
        outbound_from=outbound_from,
        outbound_to=outbound_to,
        travellers=travellers,
        plan_url=plan_url,
        join_url=join_url,
        trip_id=trip_id,
        departs_at=departs_at,
        train=train,
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


# --- The marketing dashboard (docs/referrals.md, "Dashboard") -----------------------------

# The original retailer's figure: each post shared after a booking brought back 2.1 visitors.
REFERENCE_VISITORS_PER_SHARE = 2.1
# Counts that add up across days, channels and destinations (the CSV's columns too).
DASHBOARD_COUNTS = (
    "shares",
    "share_intents",
    "previews",
    "visits",
    "visitors",
    "signups",
    "trips_created",
    "bookings",
    "revenue_cents",
)


@dataclass
class DashboardMetrics:
    """One row of the dashboard: counts, and the ratios derived from them (None when the
    denominator is 0). ``sharers`` is distinct people, so it is counted, never summed."""

    shares: int = 0
    share_intents: int = 0
    sharers: int = 0
    previews: int = 0
    visits: int = 0
    visitors: int = 0
    signups: int = 0
    trips_created: int = 0
    bookings: int = 0
    revenue_cents: int = 0

    @property
    def visitors_per_share(self) -> float | None:
        return round(self.visitors / self.shares, 3) if self.shares else None

    @property
    def conversion_rate(self) -> float | None:
        return round(self.bookings / self.visitors, 4) if self.visitors else None

    @property
    def k_factor(self) -> float | None:
        """Invitations per sharer × their conversion into sign-ups:
        (shares / sharers) × (sign-ups / shares) = sign-ups per sharer."""
        if not self.sharers or not self.shares:
            return None
        return round((self.shares / self.sharers) * (self.signups / self.shares), 3)


@dataclass
class Dashboard:
    first: dt.date
    last: dt.date
    channel: str
    destination: str
    totals: DashboardMetrics
    days: dict  # day -> DashboardMetrics, every day of the range
    channels: dict  # channel -> DashboardMetrics, every channel
    destinations: dict  # destination id -> (code, name, DashboardMetrics)
    cells: dict  # (day, channel) -> DashboardMetrics: the CSV's rows
    top_sharers: list  # [{"first_name", "visitors", "signups", "bookings"}]


# The top sharers are ranked from the rollups of the sharers whose total (``SharerTotal``,
# every day summed) can reach the tenth place: first the range's figures of the sharers
# with the largest totals give a bar (the tenth best among them); no one whose total is
# below it can rank, so only the sharers at or above it are summed.
TOP_SHARERS_PROBE = 100


def dashboard_get(
    *, first: dt.date, last: dt.date, channel: str = "", destination: str = "", top: int = 10
) -> Dashboard:
    """The dashboard over the local days ``first`` to ``last`` (both included), for one
    channel and/or one destination (a station code) if given.

    A fixed number of aggregate queries whatever the range (eleven), each grouped in SQL
    into at most days × channels or destinations rows: clicks and share intents from the
    daily summaries (``DailySummary``, the rollups summed per day, channel and destination:
    never the raw clicks), shares and sharers from the share links, conversions from their
    own day, channel and destination copies, top sharers from the rollups of the few
    sharers who can rank. The caller validates the range (``referrals.dashboard``)."""
    with _dashboard_reads():
        return _dashboard_read(
            first=first, last=last, channel=channel, destination=destination, top=top
        )


# The dashboard's scans are aggregates over covering indexes made for them (day first):
# read in index order, never visiting the table, they take about half as long as a scan of
# the table and a hash of its groups (measured on a quarter of the bench's million clicks:
# conversions 30-40 ms against 55-110 ms). PostgreSQL's default cost of a random page (4,
# set for spinning disks) has its planner prefer the table for a quarter's rows; the
# dashboard's own transaction tells it what a page costs on SSD storage, for its statements
# only (SET LOCAL ends with the transaction).
DASHBOARD_RANDOM_PAGE_COST = 1.1


@contextlib.contextmanager
def _dashboard_reads():
    """On PostgreSQL, the dashboard's statements in one read-only transaction: one
    snapshot for all of them when it is the outermost (the figures of one answer agree with
    one another), and the planner's page cost above. SQLite reads as it is: a transaction
    there would take the database's write lock (``transaction_mode`` IMMEDIATE)."""
    connection = connections[router.db_for_read(ShareLink)]
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SET LOCAL random_page_cost = %s", [DASHBOARD_RANDOM_PAGE_COST])
        yield


def _dashboard_read(
    *, first: dt.date, last: dt.date, channel: str = "", destination: str = "", top: int = 10
) -> Dashboard:
    """The body of ``dashboard_get``, inside its transaction."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum

    from booking.models import Station
    from referrals.models import (
        Conversion,
        DailyRollup,
        DailySummary,
        ShareChannel,
        SharerTotal,
    )

    code = destination.upper()
    # Every table read carries its local day, channel and destination (copies written with
    # the row, or by the rollup job): filtered and grouped alone, no time converted per row
    # and no join to links or trips. A link's or conversion's ``day`` is the local day of
    # its ``created_at`` or ``at``, so a range of days is the same rows as the range of
    # times from the first day's local midnight to the one after the last day.
    on_copy = {"day__gte": first, "day__lte": last}
    if channel:
        on_copy["channel"] = channel
    if destination:
        on_copy["destination__code"] = code

    summaries = DailySummary.objects.filter(**on_copy)
    links = ShareLink.objects.filter(**on_copy)
    conversions = Conversion.objects.filter(**on_copy)
    rollups = DailyRollup.objects.filter(**on_copy)

    # Counts per (day, channel) cell (the CSV's rows) and per destination, as plain lists in
    # the order of DASHBOARD_COUNTS, added up row by row in plain Python (a quarter's
    # conversions come as a few thousand groups); days, channels and totals are the sums of
    # the cells. Dataclasses are made once, at the end, for what is shown.
    width = len(DASHBOARD_COUNTS)
    at = {key: n for n, key in enumerate(DASHBOARD_COUNTS)}
    cell_counts: dict[tuple, list[int]] = {}
    dest_counts: dict[int, list[int]] = {}

    def counts_of(into: dict, key) -> list[int]:
        counts = into.get(key)
        if counts is None:
            counts = into[key] = [0] * width
        return counts

    # 1-2. Clicks and presses of the share buttons: the daily summaries, per cell and per
    # destination (their own columns; a few thousand rows a quarter).
    rolled = [at[key] for key in ("previews", "visits", "visitors", "share_intents")]
    rolled_sums = {
        "p": Sum("previews"),
        "v": Sum("visits"),
        "u": Sum("unique_visitors"),
        "i": Sum("share_intents"),
    }
    for day, chan, *values in (
        summaries.values("day", "channel")
        .annotate(**rolled_sums)
        .values_list("day", "channel", *rolled_sums)
    ):
        counts = counts_of(cell_counts, (day, chan))
        for n, value in zip(rolled, values, strict=True):
            counts[n] += value or 0
    for dest_id, *values in (
        summaries.values("destination_id")
        .annotate(**rolled_sums)
        .values_list("destination_id", *rolled_sums)
    ):
        counts = counts_of(dest_counts, dest_id)
        for n, value in zip(rolled, values, strict=True):
            counts[n] += value or 0

    # 3. Shares per day: the day's distinct sharers, and its links per channel counted in
    # the same scan (one filtered count per channel: they are few and fixed). 4. Per
    # destination, the links and their distinct sharers. (Counting a column of the
    # indexes, never the id, keeps every count an index-only scan on PostgreSQL.)
    day_sharers: dict[dt.date, int] = {}
    shares_at = at["shares"]
    per_channel = {
        f"n{n}": Count("sharer", filter=Q(channel=value))
        for n, value in enumerate(ShareChannel.values)
    }
    for day, sharers, *per_chan in (
        links.values("day")
        .annotate(s=Count("sharer", distinct=True), **per_channel)
        .values_list("day", "s", *per_channel)
    ):
        day_sharers[day] = sharers
        for chan, n in zip(ShareChannel.values, per_chan, strict=True):
            if n:
                counts_of(cell_counts, (day, chan))[shares_at] += n
    dest_sharers = {}
    for dest_id, n, sharers in (
        links.values("destination_id")
        .annotate(n=Count("sharer"), s=Count("sharer", distinct=True))
        .values_list("destination_id", "n", "s")
    ):
        counts_of(dest_counts, dest_id)[shares_at] += n
        dest_sharers[dest_id] = sharers
    # 5. Conversions and their revenue (net of refunds), per cell and destination: one scan
    # of the range's conversions, its few thousand groups added to both.
    s_at, t_at, b_at, r_at = (
        at[k] for k in ("signups", "trips_created", "bookings", "revenue_cents")
    )
    for day, chan, dest_id, s, t, b, r in (
        conversions.values("day", "channel", "destination_id")
        .annotate(
            s=Count("kind", filter=Q(kind="signup")),
            t=Count("kind", filter=Q(kind="trip_created")),
            b=Count("kind", filter=Q(kind="booking")),
            r=Sum(F("amount_cents") - F("reversed_cents"), filter=Q(kind="booking")),
        )
        .values_list("day", "channel", "destination_id", "s", "t", "b", "r")
    ):
        r = r or 0
        for counts in (counts_of(cell_counts, (day, chan)), counts_of(dest_counts, dest_id)):
            counts[s_at] += s
            counts[t_at] += t
            counts[b_at] += b
            counts[r_at] += r
    # 6. The destinations' codes and names.
    dest_names = {
        pk: (code, city or name)
        for pk, code, city, name in Station.objects.filter(pk__in=list(dest_counts)).values_list(
            "pk", "code", "city", "name"
        )
    }

    def metrics(counts: list[int], sharers: int = 0) -> DashboardMetrics:
        return DashboardMetrics(sharers=sharers, **dict(zip(DASHBOARD_COUNTS, counts, strict=True)))

    def summed(rows) -> list[int]:
        return [sum(column) for column in zip(*rows, strict=True)] if rows else [0] * width

    day_list = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    by_day: dict[dt.date, list[list[int]]] = {day: [] for day in day_list}
    by_channel: dict[str, list[list[int]]] = {value: [] for value in ShareChannel.values}
    for (day, chan), counts in cell_counts.items():
        by_day[day].append(counts)
        by_channel[chan].append(counts)

    # 7-8. Sharers: distinct people, counted per grouping (days' and destinations' above).
    channel_sharers = dict(
        links.values("channel")
        .annotate(n=Count("sharer", distinct=True))
        .values_list("channel", "n")
    )
    totals = metrics(
        summed(list(cell_counts.values())),
        links.aggregate(n=Count("sharer", distinct=True))["n"],
    )
    days = {day: metrics(summed(rows), day_sharers.get(day, 0)) for day, rows in by_day.items()}
    channels = {
        chan: metrics(summed(rows), channel_sharers.get(chan, 0))
        for chan, rows in by_channel.items()
    }
    cells = {key: metrics(counts) for key, counts in cell_counts.items()}
    destinations = {
        dest_id: (*dest_names[dest_id], metrics(counts, dest_sharers.get(dest_id, 0)))
        for dest_id, counts in dest_counts.items()
    }

    # 9-10. Top sharers: by visitors brought (their rollups summed over the range), then
    # their sharer's id. A first query sums the range for the sharers of the largest totals:
    # its tenth best is a bar that every sharer of the ten reaches, and a sharer's total is
    # never below their range's sum, so only sharers whose total reaches the bar are summed
    # (a few dozen, not every sharer of the range; all of them when the bar is low).
    def visitors_of(sharers) -> list[tuple[int, int]]:
        return list(
            rollups.filter(sharer_id__in=sharers)
            .values("sharer_id")
            .annotate(v=Sum("unique_visitors"))
            .filter(v__gt=0)
            .order_by("-v", "sharer_id")
            .values_list("sharer_id", "v")[:top]
        )

    probe = visitors_of(
        SharerTotal.objects.order_by("-visitors", "sharer_id").values("sharer_id")[
            :TOP_SHARERS_PROBE
        ]
    )
    bar = probe[-1][1] if len(probe) == top else 1
    ranked = visitors_of(SharerTotal.objects.filter(visitors__gte=bar).values("sharer_id"))

    # 11. Their first names and what their visitors did.
    def converted_by(kind: str) -> Subquery:
        return Subquery(
            conversions.filter(link__sharer_id=OuterRef("pk"), kind=kind)
            .values("link__sharer_id")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        )

    people = {
        row["pk"]: row
        for row in get_user_model()
        .objects.filter(pk__in=[sharer_id for sharer_id, _ in ranked])
        .annotate(s=converted_by("signup"), b=converted_by("booking"))
        .values("pk", "first_name", "profile__display_name", "s", "b")
    }
    top_sharers = [
        {
            "first_name": _first_name(
                people.get(sharer_id, {}).get("first_name"),
                people.get(sharer_id, {}).get("profile__display_name"),
            ),
            "visitors": visitors,
            "signups": people.get(sharer_id, {}).get("s") or 0,
            "bookings": people.get(sharer_id, {}).get("b") or 0,
        }
        for sharer_id, visitors in ranked
    ]
    return Dashboard(
        first=first,
        last=last,
        channel=channel,
        destination=code,
        totals=totals,
        days=days,
        channels=channels,
        destinations=destinations,
        cells=dict(sorted(cells.items())),
        top_sharers=top_sharers,
    )


def _first_name(first_name: str | None, display_name: str | None) -> str:
    """Only a first name ever leaves the dashboard: the account's, else the first word of
    the profile's display name."""
    if first_name:
        return first_name.split()[0]
    words = (display_name or "").split()
    return words[0] if words else "?"


# --- Incentives: a sharer's credit ---------------------------------------------------------


@dataclass(frozen=True)
class RewardBalance:
    """A sharer's referral credit, for their account page."""

    available_cents: int  # to spend on their next trip
    reserved_cents: int  # set aside on a share of a checkout still running
    spent_cents: int  # paid part of a booking
    friends: int  # friends whose booking earned a reward (reversed ones not counted)
    currency: str

    @property
    def any(self) -> bool:
        return bool(self.friends or self.available_cents or self.reserved_cents)


def reward_balance_get(*, user) -> RewardBalance:
    """Two queries: the rewards' totals, then their uses by state."""
    currency = settings.SIDEBYSIDE["CURRENCY"]
    earned = Q(state=Reward.State.EARNED)
    totals = Reward.objects.filter(sharer=user, currency=currency).aggregate(
        available=Sum(F("amount_cents") - F("used_cents") - F("reversed_cents"), filter=earned),
        friends=Count("pk", filter=~Q(state=Reward.State.REVERSED)),
    )
    uses = dict(
        RewardUse.objects.filter(reward__sharer=user, reward__currency=currency)
        .values("state")
        .annotate(n=Sum("amount_cents"))
        .values_list("state", "n")
    )
    return RewardBalance(
        available_cents=totals["available"] or 0,
        reserved_cents=uses.get(RewardUse.State.RESERVED) or 0,
        spent_cents=uses.get(RewardUse.State.SPENT) or 0,
        friends=totals["friends"] or 0,
        currency=currency,
    )


def rollup_last_finished() -> dt.datetime | None:
    """When the dashboard's figures were last computed (the ``rollup`` job's last run), or
    None if it never ran."""
    return RollupRun.objects.filter(name="rollup").values_list("finished_at", flat=True).first()
