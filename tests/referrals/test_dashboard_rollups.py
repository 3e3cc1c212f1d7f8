"""The daily rollups carry their link's channel, destination and sharer (written by the
rollup job, filled for older rows by migration 0005), so the dashboard groups them without
joins; and a flood is counted once per source and day without an OR of every flagged
source tested on every click (referrals/rollups.py)."""

import datetime as dt
import importlib
from collections import defaultdict

import pytest
from django.apps import apps
from django.utils import timezone

from referrals.dashboard import dashboard_data
from referrals.models import Click, Conversion, DailyRollup, ShareIntent, ShareLink, Visitor
from referrals.rollups import rollup, summarize
from referrals.selectors import DASHBOARD_COUNTS, dashboard_get
from tests import factories
from tests.referrals.helpers import at as _at
from tests.referrals.helpers import click as _click

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """Three sharers, two destinations, four channels over ten days: clicks (previews, one
    flood), intents and conversions."""
    today = timezone.localdate()
    olivia, fred, sam = (factories.user(n) for n in ("Olivia One", "Fred Two", "Sam Three"))
    factories.station("FRMSC", city="Marseille")
    lyon = factories.trip(organiser=olivia)
    marseille = factories.trip(organiser=fred, destination_code="FRMSC")
    links = [
        ShareLink.objects.create(trip=lyon, sharer=olivia, channel="facebook"),
        ShareLink.objects.create(trip=lyon, sharer=olivia, channel="whatsapp"),
        ShareLink.objects.create(trip=lyon, sharer=sam, channel="facebook"),
        ShareLink.objects.create(trip=marseille, sharer=fred, channel="facebook"),
        ShareLink.objects.create(trip=marseille, sharer=fred, channel="x"),
        ShareLink.objects.create(trip=marseille, sharer=sam, channel="copy"),
    ]
    visitors = [Visitor.objects.create() for _ in range(12)]
    for n, link in enumerate(links):
        made = today - dt.timedelta(days=9)  # the time and its local day (the model's copy)
        ShareLink.objects.filter(pk=link.pk).update(created_at=_at(made), day=made)
        ShareIntent.objects.create(link=link, channel=link.channel, at=_at(today, 8))
        for back in range(10):
            day = today - dt.timedelta(days=back)
            for k in range((n + back) % 4):
                _click(link, _at(day, 9, k), source=f"s{k}", visitor=visitors[(n + k) % 12])
            if back % 3 == n % 3:
                _click(link, _at(day, 10), preview=True)
    # A script on the Marseille Facebook link three days ago: flagged, counted once.
    flood_day = today - dt.timedelta(days=3)
    for k in range(6):
        _click(links[3], _at(flood_day, 11, k), source="script", visitor=visitors[k])
    _click(links[3], _at(flood_day, 11, 7), source="script", flagged=True)
    for kind, link, amount in (
        ("signup", links[0], 0),
        ("booking", links[0], 5000),
        ("booking", links[3], 3000),
        ("trip_created", links[5], 0),
    ):
        Conversion.objects.create(
            kind=kind,
            link=link,
            channel=link.channel,
            amount_cents=amount,
            currency="EUR" if amount else "",
            at=_at(today - dt.timedelta(days=2), 15),
        )
    rollup(days=12)
    return {"today": today, "links": links}


def _board(today, **filters) -> dict:
    return dashboard_data(dashboard_get(first=today - dt.timedelta(days=29), last=today, **filters))


def _metrics(row: dict) -> dict:
    return {key: row[key] for key in (*DASHBOARD_COUNTS, "sharers")}


def test_each_rollup_row_carries_its_links_channel_destination_and_sharer(world):
    rows = DailyRollup.objects.select_related("link__trip")
    assert rows.count() >= 40
    for row in rows:
        assert row.channel == row.link.channel
        assert row.destination_id == row.link.trip.destination_id
        assert row.sharer_id == row.link.sharer_id


def test_share_intents_are_counted_on_their_days_row_even_without_clicks(world):
    today = world["today"]
    link = world["links"][4]
    quiet = today - dt.timedelta(days=11)  # no click that day
    for hour in (8, 9):
        ShareIntent.objects.create(link=link, channel=link.channel, at=_at(quiet, hour))
    assert not Click.objects.filter(link=link, at__date=quiet).exists()

    rollup(days=12)

    row = DailyRollup.objects.get(link=link, day=quiet)
    assert (row.share_intents, row.visits, row.destination_id) == (2, 0, link.trip.destination_id)
    assert DailyRollup.objects.get(link=link, day=today).share_intents == 1
    board = _board(today)
    assert board["totals"]["share_intents"] == ShareIntent.objects.count() == 8
    assert {row["day"]: row["share_intents"] for row in board["series"]}[quiet] == 2


def test_rerunning_the_rollup_changes_no_row_and_no_dashboard_figure(world):
    today = world["today"]
    fields = (
        "link_id",
        "day",
        "channel",
        "destination_id",
        "sharer_id",
        "previews",
        "visits",
        "unique_visitors",
        "flagged",
        "share_intents",
    )
    rows = sorted(DailyRollup.objects.values_list(*fields))
    queries = [{}, {"channel": "facebook"}, {"destination": "FRMSC"}]
    queries.append({"channel": "facebook", "destination": "frlpd"})
    before = [_board(today, **query) for query in queries]
    assert before[0]["totals"]["visitors"] > 0

    rollup(days=12)  # the same days again
    rollup()  # the worker's usual window, overlapping
    for back in range(12):  # day by day, as the bench's worker does
        rollup(today=today - dt.timedelta(days=back), days=1)

    assert sorted(DailyRollup.objects.values_list(*fields)) == rows
    assert [_board(today, **query) for query in queries] == before


def test_the_channel_and_destination_filters_agree_with_the_unfiltered_groups(world):
    today = world["today"]
    board = _board(today)

    for row in board["by_channel"]:
        filtered = _board(today, channel=row["channel"])
        assert _metrics(filtered["totals"]) == _metrics(row), row["channel"]
        assert sum(day["visitors"] for day in filtered["series"]) == row["visitors"]
    assert {row["destination"] for row in board["by_destination"]} == {"FRLPD", "FRMSC"}
    for row in board["by_destination"]:
        filtered = _board(today, destination=row["destination"].lower())
        assert _metrics(filtered["totals"]) == _metrics(row), row["destination"]
        assert [d["destination"] for d in filtered["by_destination"]] == [row["destination"]]
    both = _board(today, channel="facebook", destination="FRMSC")["totals"]
    assert (both["shares"], both["revenue_cents"]) == (1, 3000)
    lyon = _board(today, destination="FRLPD")["top_sharers"]
    assert {sharer["first_name"] for sharer in lyon} == {"Olivia", "Sam"}


def test_the_migration_fills_the_copies_from_the_links(world):
    today = world["today"]
    before = _board(today)
    rows = DailyRollup.objects.count()
    other = factories.station("FRXXX", city="Elsewhere")
    stranger = factories.user("Stan Stranger")
    DailyRollup.objects.update(destination=other, sharer=stranger, share_intents=0)  # unfilled
    DailyRollup.objects.filter(visits=0, previews=0, flagged=0).delete()  # intents' own rows
    days = {"first": today - dt.timedelta(days=12), "last": today}
    summarize(**days)  # the dashboard reads the rollups' sums per day (0007 made them after)
    assert _board(today) != before

    migration = importlib.import_module("referrals.migrations.0005_rollup_destination_sharer")
    migration.fill_from_links(apps, None)
    summarize(**days)

    assert DailyRollup.objects.count() == rows
    assert not DailyRollup.objects.filter(destination=other).exists()
    assert not DailyRollup.objects.filter(sharer=stranger).exists()
    assert _board(today) == before


# --- Floods: one visit and one visitor per flooding source, link and day ------------------


def _expected(clicks) -> dict:
    """The rule of docs/referrals.md ("Floods"), computed plainly from the clicks: per link
    and local day, a source flagged on that link that day counts once, whatever its clicks;
    the other clicks count as visits and their distinct visitors as visitors."""
    flagged = {(c.link_id, c.ip_hash, timezone.localdate(c.at)) for c in clicks if c.flagged}
    out: dict = defaultdict(lambda: {"previews": 0, "flagged": 0, "visits": 0, "v": set()})
    sources: dict = defaultdict(set)
    for c in clicks:
        day = timezone.localdate(c.at)
        row = out[(c.link_id, day)]
        if c.flagged:
            row["flagged"] += 1
        elif c.is_preview:
            row["previews"] += 1
        elif (c.link_id, c.ip_hash, day) in flagged:
            sources[(c.link_id, day)].add(c.ip_hash)
        else:
            row["visits"] += 1
            if c.visitor_id:
                row["v"].add(c.visitor_id)
    return {
        key: (
            row["previews"],
            row["visits"] + len(sources[key]),
            len(row["v"]) + len(sources[key]),
            row["flagged"],
        )
        for key, row in out.items()
    }


def test_many_flooding_sources_are_each_counted_once_per_link_and_day():
    today = timezone.localdate()
    owner = factories.user("Olivia One")
    trip = factories.trip(organiser=owner)
    links = [
        ShareLink.objects.create(trip=trip, sharer=owner, channel=channel)
        for channel in ("facebook", "whatsapp", "x", "copy")
    ]
    visitors = [Visitor.objects.create() for _ in range(8)]
    for back in range(5):
        day = today - dt.timedelta(days=back)
        for n, link in enumerate(links):
            for k in range(12):
                source = f"src{k % 5}"
                _click(link, _at(day, 9, k), source=source, visitor=visitors[(k + n) % 8])
            _click(link, _at(day, 10), source="src0", preview=True)
            # Sources flagged on some links and days only: their clicks elsewhere and on
            # other days count as usual (a visitor seen through both kinds, once).
            for k in range(5):
                if (back + n) % 2 == 0 and (back + n + k) % 3 == 0:
                    _click(link, _at(day, 11, k), source=f"src{k}", flagged=True)
    # A flagged source on a day with no other click of it.
    _click(links[0], _at(today, 13), source="lonely", flagged=True)
    assert Click.objects.filter(flagged=True).count() > 10

    assert rollup(days=5) == 20
    got = {
        (row.link_id, row.day): (row.previews, row.visits, row.unique_visitors, row.flagged)
        for row in DailyRollup.objects.all()
    }

    assert got == _expected(list(Click.objects.all()))
    # Not everything collapsed: some links and days have no flooding source at all.
    assert any(visits == 12 for _, visits, _, _ in got.values())
    assert rollup(days=5) == 20
    assert {
        (row.link_id, row.day): (row.previews, row.visits, row.unique_visitors, row.flagged)
        for row in DailyRollup.objects.all()
    } == got


def test_a_flagged_source_on_one_day_leaves_the_same_hash_on_another_day_alone():
    """Hashes change every day (the salt is the day's), but the rule does not rely on it."""
    today = timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    owner = factories.user("Olivia One")
    link = ShareLink.objects.create(
        trip=factories.trip(organiser=owner), sharer=owner, channel="facebook"
    )
    visitors = [Visitor.objects.create() for _ in range(4)]
    for k in range(4):
        _click(link, _at(yesterday, 9, k), source="same", visitor=visitors[k])
        _click(link, _at(today, 9, k), source="same", visitor=visitors[k])
    _click(link, _at(today, 10), source="same", flagged=True)

    rollup(days=2)

    rows = dict(DailyRollup.objects.values_list("day", "visits"))
    assert rows == {yesterday: 4, today: 1}


@pytest.mark.parametrize("flooded", [False, True], ids=["plain link", "flooded link"])
def test_new_visitors_count_once_per_source_on_plain_and_flooded_links(flooded):
    owner = factories.user("Olivia One")
    link = ShareLink.objects.create(trip=factories.trip(organiser=owner), sharer=owner)
    today = timezone.localdate()
    fresh = [Visitor.objects.create() for _ in range(3)]
    for k, visitor in enumerate(fresh):  # a script dropping its cookies: new each time
        Click.objects.create(
            link=link,
            visitor=visitor,
            channel=link.channel,
            at=_at(today, 9, k),
            ip_hash="script",
            new_visitor=True,
        )
    # Someone new who comes back later with their key: one visitor, two visits.
    friend = Visitor.objects.create()
    for minute, new in ((0, True), (59, False)):
        Click.objects.create(
            link=link,
            visitor=friend,
            channel=link.channel,
            at=_at(today, 10, minute),
            ip_hash="friend",
            new_visitor=new,
        )
    if flooded:
        _click(link, _at(today, 11), source="flood", visitor=Visitor.objects.create())
        _click(link, _at(today, 11, 1), source="flood", flagged=True)

    rollup(days=1)

    row = DailyRollup.objects.get(link=link)
    extra = 1 if flooded else 0
    assert (row.visits, row.unique_visitors) == (1 + 2 + extra, 1 + 1 + extra)
