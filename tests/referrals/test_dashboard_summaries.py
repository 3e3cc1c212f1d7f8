"""The dashboard's cheaper reads (docs/referrals.md, "Rollups"): the daily summaries (the
rollups summed per day, channel and destination), the sharers' totals that bound the top
sharers, and the conversions' copy of their destination. Every figure must be what a plain
computation from the raw rows gives, for any range and filter; the summaries and totals
are rewritten idempotently by the rollup job, and refunds and floods count as before."""

import datetime as dt
import importlib
from collections import defaultdict

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.utils import timezone

from referrals import selectors
from referrals.dashboard import dashboard_data
from referrals.models import (
    Click,
    Conversion,
    DailyRollup,
    DailySummary,
    ShareIntent,
    ShareLink,
    SharerTotal,
    Visitor,
)
from referrals.rollups import rollup
from referrals.selectors import DASHBOARD_COUNTS, dashboard_get
from tests import factories
from tests.referrals.helpers import at as _at
from tests.referrals.helpers import click as _click

pytestmark = pytest.mark.django_db

SUMMED = ("previews", "visits", "unique_visitors", "flagged", "share_intents")


@pytest.fixture
def world():
    """Twelve sharers on three destinations and four channels over twenty days: links made
    on different days, clicks (previews, two floods), share intents, conversions (one
    refunded in part, one in full), and ties among the sharers' visitors."""
    today = timezone.localdate()
    factories.station("FRMSC", city="Marseille")
    factories.station("FRNIC", city="Nice")
    sharers = [factories.user(f"Sharer{n} Family") for n in range(12)]
    trips = [
        factories.trip(organiser=sharers[0]),
        factories.trip(organiser=sharers[1], destination_code="FRMSC"),
        factories.trip(organiser=sharers[2], destination_code="FRNIC"),
    ]
    channels = ("facebook", "whatsapp", "x", "copy")
    visitors = [Visitor.objects.create() for _ in range(15)]
    links = []
    for n, sharer in enumerate(sharers):
        for k in range(1 + n % 3):
            link = ShareLink.objects.create(
                trip=trips[(n + k) % 3], sharer=sharer, channel=channels[(n + 2 * k) % 4]
            )
            made = today - dt.timedelta(days=(3 * n + 5 * k) % 19)
            ShareLink.objects.filter(pk=link.pk).update(created_at=_at(made, 8 + k), day=made)
            links.append(link)
    for n, link in enumerate(links):
        ShareIntent.objects.create(link=link, channel=link.channel, at=_at(today, 7))
        for back in range(20):
            day = today - dt.timedelta(days=back)
            for k in range((n * 7 + back) % 4):
                _click(link, _at(day, 9, k), source=f"s{k}", visitor=visitors[(n + k + back) % 15])
            if (back + n) % 5 == 0:
                _click(link, _at(day, 10), preview=True)
                ShareIntent.objects.create(link=link, channel=link.channel, at=_at(day, 11))
    for link, back in ((links[1], 4), (links[6], 11)):  # scripts: flagged, each counted once
        day = today - dt.timedelta(days=back)
        for k in range(7):
            _click(link, _at(day, 13, k), source="script", visitor=visitors[k])
        _click(link, _at(day, 13, 9), source="script", flagged=True)
    for n, link in enumerate(links):
        at = _at(today - dt.timedelta(days=(2 * n) % 17), 15)
        Conversion.objects.create(kind="signup", link=link, channel=link.channel, at=at)
        if n % 2 == 0:
            Conversion.objects.create(
                kind="booking",
                link=link,
                channel=link.channel,
                amount_cents=4000 + 100 * n,
                reversed_cents=(500 if n % 4 == 0 else 0),
                currency="EUR",
                at=at,
            )
        if n % 3 == 0:
            Conversion.objects.create(kind="trip_created", link=link, channel=link.channel, at=at)
    rollup(days=25)
    return {"today": today, "links": links}


# --- A plain computation from the raw rows --------------------------------------------------


def _reference(first: dt.date, last: dt.date, channel: str = "", destination: str = "") -> dict:
    """The dashboard's figures from the raw rows, joined through their links and trips and
    added up in Python, as the issue defines them (docs/referrals.md, "Dashboard")."""
    tz = timezone.get_current_timezone()

    def keep(link) -> bool:
        if channel and link.channel != channel:
            return False
        return not destination or link.trip.destination.code == destination.upper()

    def new():
        return dict.fromkeys(DASHBOARD_COUNTS, 0) | {"sharers": set()}

    totals, days, channels, dests = new(), defaultdict(new), defaultdict(new), defaultdict(new)

    def add(link, day, **counts):
        for target in (totals, days[day], channels[link.channel], dests[link.trip.destination]):
            for key, value in counts.items():
                target[key] += value

    sharer_visitors: dict = defaultdict(int)
    for row in DailyRollup.objects.select_related("link__trip__destination"):
        if first <= row.day <= last and keep(row.link):
            add(
                row.link,
                row.day,
                previews=row.previews,
                visits=row.visits,
                visitors=row.unique_visitors,
                share_intents=row.share_intents,
            )
            sharer_visitors[row.link.sharer_id] += row.unique_visitors
    for link in ShareLink.objects.select_related("trip__destination"):
        day = link.created_at.astimezone(tz).date()
        if first <= day <= last and keep(link):
            add(link, day, shares=1)
            for target in (totals, days[day], channels[link.channel], dests[link.trip.destination]):
                target["sharers"].add(link.sharer_id)
    converted: dict = defaultdict(lambda: defaultdict(int))
    for conversion in Conversion.objects.select_related("link__trip__destination"):
        day = conversion.at.astimezone(tz).date()
        if not (first <= day <= last and keep(conversion.link)):
            continue
        kind = {"signup": "signups", "trip_created": "trips_created", "booking": "bookings"}
        add(conversion.link, day, **{kind[conversion.kind]: 1})
        if conversion.kind == "booking":
            add(
                conversion.link,
                day,
                revenue_cents=conversion.amount_cents - conversion.reversed_cents,
            )
        converted[conversion.link.sharer_id][conversion.kind] += 1

    def figures(counts: dict) -> dict:
        return {key: counts[key] for key in DASHBOARD_COUNTS} | {"sharers": len(counts["sharers"])}

    ranked = sorted(
        ((sharer_id, v) for sharer_id, v in sharer_visitors.items() if v > 0),
        key=lambda item: (-item[1], item[0]),
    )[:10]
    people = {
        user.pk: user.first_name or user.profile.display_name
        for user in get_user_model()
        .objects.filter(pk__in=[s for s, _ in ranked])
        .select_related("profile")
    }
    return {
        "totals": figures(totals),
        "series": {day: figures(c) for day, c in days.items()},
        "by_channel": {chan: figures(c) for chan, c in channels.items()},
        "by_destination": {station.code: figures(c) for station, c in dests.items()},
        "top_sharers": [
            {
                "first_name": people[s].split()[0],
                "visitors": v,
                "signups": converted[s]["signup"],
                "bookings": converted[s]["booking"],
            }
            for s, v in ranked
        ],
    }


def _shown(first: dt.date, last: dt.date, **filters) -> dict:
    """What the API shows, keyed as ``_reference`` (rows with nothing dropped from series,
    which are zero-filled)."""
    data = dashboard_data(dashboard_get(first=first, last=last, **filters))

    def figures(row: dict) -> dict:
        return {key: row[key] for key in (*DASHBOARD_COUNTS, "sharers")}

    zero = dict.fromkeys((*DASHBOARD_COUNTS, "sharers"), 0)
    return {
        "totals": figures(data["totals"]),
        "series": {row["day"]: figures(row) for row in data["series"] if figures(row) != zero},
        "by_channel": {
            row["channel"]: figures(row) for row in data["by_channel"] if figures(row) != zero
        },
        "by_destination": {row["destination"]: figures(row) for row in data["by_destination"]},
        "top_sharers": data["top_sharers"],
    }


def _without_empty(reference: dict) -> dict:
    zero = dict.fromkeys((*DASHBOARD_COUNTS, "sharers"), 0)
    return reference | {
        "series": {k: v for k, v in reference["series"].items() if v != zero},
        "by_channel": {k: v for k, v in reference["by_channel"].items() if v != zero},
    }


RANGES = [(0, 0), (3, 0), (9, 2), (19, 0), (29, 0), (24, 12)]
FILTERS = [{}, {"channel": "facebook"}, {"channel": "x"}, {"destination": "frmsc"}]
FILTERS.append({"channel": "whatsapp", "destination": "FRLPD"})


@pytest.mark.parametrize("filters", FILTERS)
def test_every_figure_is_what_the_raw_rows_give(world, filters):
    today = world["today"]
    for back_first, back_last in RANGES:
        first, last = today - dt.timedelta(days=back_first), today - dt.timedelta(days=back_last)
        expected = _without_empty(_reference(first, last, **filters))
        assert _shown(first, last, **filters) == expected, (first, last)
    assert _shown(today - dt.timedelta(days=29), today, **filters)["top_sharers"]


def test_the_top_sharers_are_the_same_whatever_the_probe(world, monkeypatch):
    """The bar from the largest totals only skips sharers who cannot rank: a probe of one
    sharer, or of every sharer, ranks the same ten (ties broken by the sharer's id)."""
    today = world["today"]
    ranges = [(today - dt.timedelta(days=b), today - dt.timedelta(days=e)) for b, e in RANGES]
    expected = {
        (first, last, tuple(sorted(f.items()))): _reference(first, last, **f)["top_sharers"]
        for first, last in ranges
        for f in FILTERS
    }
    visitors = [row["visitors"] for row in next(iter(expected.values()))]
    assert len(visitors) == 10 and len(set(visitors)) < 10  # ties
    for probe in (1, 3, 1000):
        monkeypatch.setattr(selectors, "TOP_SHARERS_PROBE", probe)
        for (first, last, filters), top in expected.items():
            board = dashboard_get(first=first, last=last, **dict(filters))
            assert board.top_sharers == top, (probe, first, last, filters)


# --- The summaries and totals the rollup job writes ----------------------------------------


def _summaries() -> dict:
    return {
        (row.day, row.channel, row.destination_id): tuple(getattr(row, f) for f in SUMMED)
        for row in DailySummary.objects.all()
    }


def _summed_rollups() -> dict:
    out: dict = defaultdict(lambda: [0] * len(SUMMED))
    for row in DailyRollup.objects.select_related("link__trip"):
        key = (row.day, row.link.channel, row.link.trip.destination_id)
        for n, field in enumerate(SUMMED):
            out[key][n] += getattr(row, field)
    return {key: tuple(values) for key, values in out.items()}


def _totals() -> dict:
    return dict(SharerTotal.objects.values_list("sharer_id", "visitors"))


def _rollup_totals() -> dict:
    out: dict = defaultdict(int)
    for row in DailyRollup.objects.select_related("link"):
        out[row.link.sharer_id] += row.unique_visitors
    return dict(out)


def test_the_summaries_are_the_rollups_summed_and_floods_count_once(world):
    today = world["today"]
    assert _summaries() == _summed_rollups()
    assert _totals() == _rollup_totals()
    # The flooded day of links[1]: seven clicks of one flagged source are one visit.
    link, day = world["links"][1], today - dt.timedelta(days=4)
    rows = DailySummary.objects.filter(
        day=day, channel=link.channel, destination=link.trip.destination
    )
    flooded = DailyRollup.objects.get(link=link, day=day)
    assert flooded.flagged == 1
    assert rows.get().flagged >= 1
    plain = Click.objects.filter(link=link, at__date=day, is_preview=False, flagged=False)
    assert flooded.visits == plain.exclude(ip_hash="script").count() + 1


def test_rerunning_and_rebuilding_leaves_the_same_summaries_and_totals(world):
    today = world["today"]
    summaries, totals = _summaries(), _totals()
    board = _shown(today - dt.timedelta(days=29), today)

    rollup(days=25)
    rollup()
    for back in range(25):  # day by day, as the worker does over a month
        rollup(today=today - dt.timedelta(days=back), days=1)
    assert (_summaries(), _totals()) == (summaries, totals)

    DailySummary.objects.all().delete()
    SharerTotal.objects.all().delete()
    rollup(days=25)  # a rebuild
    assert (_summaries(), _totals()) == (summaries, totals)
    assert _shown(today - dt.timedelta(days=29), today) == board


def test_late_clicks_and_intents_are_summed_when_their_days_are_rerolled(world):
    today = world["today"]
    link = world["links"][0]
    yesterday = today - dt.timedelta(days=1)
    before = _shown(today - dt.timedelta(days=29), today)["totals"]
    visitor = Visitor.objects.create()
    _click(link, _at(yesterday, 22), source="late", visitor=visitor)
    ShareIntent.objects.create(link=link, channel=link.channel, at=_at(yesterday, 23))

    rollup()  # the worker's window (two days) takes yesterday again

    after = _shown(today - dt.timedelta(days=29), today)["totals"]
    assert after["visits"] == before["visits"] + 1
    assert after["visitors"] == before["visitors"] + 1
    assert after["share_intents"] == before["share_intents"] + 1
    assert _summaries() == _summed_rollups()
    assert _totals() == _rollup_totals()


def test_a_segment_left_without_rollups_loses_its_summary(world):
    """Rollup rows gone (their link deleted): re-rolling their days drops their sums, and a
    segment with no rollup left has no summary row."""
    today = world["today"]
    bordeaux = factories.station("FRBOD", city="Bordeaux")
    sharer = factories.user("Lone Sharer")
    link = ShareLink.objects.create(
        trip=factories.trip(organiser=sharer, destination_code="FRBOD"),
        sharer=sharer,
        channel="copy",
    )
    _click(link, _at(today - dt.timedelta(days=1)), visitor=Visitor.objects.create())
    rollup()
    assert DailySummary.objects.filter(destination=bordeaux).count() == 1
    first = today - dt.timedelta(days=29)
    assert "FRBOD" in _shown(first, today)["by_destination"]

    ShareLink.objects.filter(pk=link.pk).delete()
    rollup()

    assert not DailySummary.objects.filter(destination=bordeaux).exists()
    assert _summaries() == _summed_rollups()
    assert _shown(first, today) == _without_empty(_reference(first, today))


def test_a_refund_changes_the_revenue_at_once_without_a_rollup(world):
    today = world["today"]
    first = today - dt.timedelta(days=29)
    before = _shown(first, today)["totals"]["revenue_cents"]
    booking = Conversion.objects.filter(kind="booking", reversed_cents=0).first()
    Conversion.objects.filter(pk=booking.pk).update(reversed_cents=booking.amount_cents)

    shown = _shown(first, today)
    assert shown["totals"]["revenue_cents"] == before - booking.amount_cents
    assert shown == _without_empty(_reference(first, today))


# --- The copies on links and conversions -----------------------------------------------------


def test_links_and_conversions_carry_their_local_day_and_destination(world):
    tz = timezone.get_current_timezone()
    for link in ShareLink.objects.select_related("trip"):
        assert link.day == link.created_at.astimezone(tz).date()
        assert link.destination_id == link.trip.destination_id
    for conversion in Conversion.objects.select_related("link__trip"):
        assert conversion.day == conversion.at.astimezone(tz).date()
        assert conversion.destination_id == conversion.link.trip.destination_id


def test_the_local_day_is_the_time_zones_not_utcs(settings):
    """Half past midnight in Paris is still the day before in UTC: the copy is Paris's."""
    settings.TIME_ZONE = "Europe/Paris"
    owner = factories.user("Olivia One")
    trip = factories.trip(organiser=owner, destination_code="FRLPD")
    link = ShareLink.objects.create(trip=trip, sharer=owner, channel="x")
    local_day = dt.date(2026, 6, 15)
    late = timezone.make_aware(dt.datetime.combine(local_day, dt.time(0, 30)))
    assert late.astimezone(dt.UTC).date() == local_day - dt.timedelta(days=1)

    made = Conversion.objects.create(kind="signup", link=link, channel="x", at=late)
    link.created_at = late
    link.save()

    made.refresh_from_db()
    link.refresh_from_db()
    assert (made.day, link.day) == (local_day, local_day)
    assert made.destination_id == link.destination_id == trip.destination_id
    board = dashboard_get(first=local_day, last=local_day)
    assert (board.totals.shares, board.totals.signups) == (1, 1)
    assert board.days[local_day].sharers == 1


def test_the_migration_fills_the_summaries_and_totals_from_the_rollups(world):
    today = world["today"]
    first = today - dt.timedelta(days=29)
    before = _shown(first, today)
    summaries, totals = _summaries(), _totals()
    DailySummary.objects.all().delete()
    SharerTotal.objects.all().delete()
    assert _shown(first, today) != before

    migration = importlib.import_module("referrals.migrations.0007_dashboard_copies_daily_summary")
    migration.fill(apps, None)

    assert (_summaries(), _totals()) == (summaries, totals)
    assert _shown(first, today) == before
