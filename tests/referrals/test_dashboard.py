"""The referrals dashboard: its JSON API, page and CSV (referrals/dashboard.py), reading
the daily rollups, share links, intents and conversions (selectors.dashboard_get)."""

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from rest_framework.test import APIClient

from referrals.models import Click, Conversion, ShareIntent, ShareLink, Visitor
from referrals.rollups import rollup
from referrals.selectors import dashboard_get
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    """The assertions read the English source of the messages and labels."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


API = "/api/referrals/dashboard/"
PAGE = "/staff/referrals/"
CSV = "/staff/referrals/export.csv"


def _at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def _staff(name: str = "Stella Staff", *, permitted: bool = True):
    account = factories.user(name)
    account.is_staff = True
    account.save()
    if permitted:
        account.user_permissions.add(
            Permission.objects.get(content_type__app_label="referrals", codename="view_dashboard")
        )
    return account


@pytest.fixture
def seeded():
    """Two sharers, three links (Lyon on Facebook and WhatsApp, Marseille on Facebook),
    clicks rolled up, intents and conversions, three days ago; plus old clicks out of range."""
    today = timezone.localdate()
    day = today - dt.timedelta(days=3)
    olivia = factories.user("Olivia Organiser")
    fred = factories.user("Fred Friend")
    factories.station("FRMSC", city="Marseille")
    lyon = factories.trip(organiser=olivia)
    marseille = factories.trip(organiser=fred, destination_code="FRMSC")
    l1 = ShareLink.objects.create(trip=lyon, sharer=olivia, channel="facebook")
    l2 = ShareLink.objects.create(trip=lyon, sharer=olivia, channel="whatsapp")
    l3 = ShareLink.objects.create(trip=marseille, sharer=fred, channel="facebook")
    # Made three days ago: the time and its local day (a copy the model writes on save).
    ShareLink.objects.update(created_at=_at(day, 9), day=day)
    for link in (l1, l1, l3):
        ShareIntent.objects.create(link=link, channel=link.channel, at=_at(day, 9))

    def click(link, when, *, preview=False):
        visitor = None if preview else Visitor.objects.create()
        Click.objects.create(
            link=link,
            visitor=visitor,
            channel=link.channel,
            at=when,
            is_preview=preview,
            ip_hash=f"h{Click.objects.count()}",
        )

    for _ in range(3):
        click(l1, _at(day))
    click(l1, _at(day), preview=True)
    click(l2, _at(day + dt.timedelta(days=1)))
    click(l3, _at(day))
    click(l3, _at(day, 13))
    click(l1, _at(today - dt.timedelta(days=40)))  # out of the default range
    rollup(days=45)

    def conversion(kind, link, amount=0, reversed_=0, **extra):
        Conversion.objects.create(
            kind=kind,
            link=link,
            channel=link.channel,
            amount_cents=amount,
            reversed_cents=reversed_,
            currency="EUR" if amount else "",
            at=_at(day, 15),
            **extra,
        )

    conversion("signup", l1, user=factories.user("Nina New"))
    conversion("booking", l1, 5000, 1000)
    conversion("booking", l3, 3000)
    conversion("trip_created", l2)
    return {"today": today, "day": day, "links": (l1, l2, l3)}


def _get(client, url, **query):
    return client.get(url, query)


def _staff_client():
    client = APIClient()
    client.force_login(_staff())
    return client


def test_the_api_totals_are_right(seeded):
    response = _staff_client().get(API)

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["to"] == seeded["today"].isoformat()
    assert data["from"] == (seeded["today"] - dt.timedelta(days=29)).isoformat()
    assert data["reference_visitors_per_share"] == 2.1
    assert data["totals"] == {
        "shares": 3,
        "share_intents": 3,
        "sharers": 2,
        "previews": 1,
        "visits": 6,
        "visitors": 6,
        "visitors_per_share": 2.0,
        "signups": 1,
        "trips_created": 1,
        "bookings": 2,
        "conversion_rate": round(2 / 6, 4),
        "revenue_cents": 7000,  # 5000 - 1000 refunded + 3000
        "k_factor": 0.5,  # 1 sign-up for 2 sharers
    }
    series = {row["day"]: row for row in data["series"]}
    assert len(series) == 30
    day = seeded["day"]
    assert series[day.isoformat()]["visitors"] == 5
    assert series[(day + dt.timedelta(days=1)).isoformat()]["visitors"] == 1
    assert sum(row["visitors"] for row in data["series"]) == 6
    channels = {row["channel"]: row for row in data["by_channel"]}
    assert set(channels) == {"facebook", "x", "whatsapp", "messenger", "webshare", "copy"}
    assert channels["facebook"]["visitors"] == 5
    assert channels["facebook"]["shares"] == 2
    assert channels["facebook"]["revenue_cents"] == 7000
    assert channels["whatsapp"]["trips_created"] == 1
    assert channels["x"]["visitors_per_share"] is None
    destinations = {row["destination"]: row for row in data["by_destination"]}
    assert destinations["FRLPD"]["name"] == "Lyon"
    assert destinations["FRLPD"]["visitors"] == 4
    assert destinations["FRLPD"]["sharers"] == 1
    assert destinations["FRMSC"]["bookings"] == 1
    assert data["top_sharers"] == [
        {"first_name": "Olivia", "visitors": 4, "signups": 1, "bookings": 1},
        {"first_name": "Fred", "visitors": 2, "signups": 0, "bookings": 1},
    ]


def test_a_wider_range_takes_the_older_clicks_and_filters_narrow_it(seeded):
    client = _staff_client()
    first = (seeded["today"] - dt.timedelta(days=60)).isoformat()

    wide = client.get(API, {"from": first}).json()["totals"]
    facebook = client.get(API, {"channel": "facebook"}).json()["totals"]
    marseille = client.get(API, {"destination": "frmsc"}).json()

    assert wide["visitors"] == 7
    assert (facebook["visitors"], facebook["shares"], facebook["share_intents"]) == (5, 2, 3)
    assert marseille["destination"] == "FRMSC"
    assert marseille["totals"]["visitors"] == 2
    assert marseille["totals"]["revenue_cents"] == 3000
    assert [row["first_name"] for row in marseille["top_sharers"]] == ["Fred"]


def test_the_csv_agrees_with_the_api(seeded):
    client = _staff_client()
    query = {"from": (seeded["today"] - dt.timedelta(days=10)).isoformat()}

    totals = client.get(API, query).json()["totals"]
    response = client.get(CSV, query)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {(row["day"], row["channel"]) for row in rows} == {
        (seeded["day"].isoformat(), "facebook"),
        ((seeded["day"] + dt.timedelta(days=1)).isoformat(), "whatsapp"),
        (seeded["day"].isoformat(), "whatsapp"),  # the link made, the trip created
    }
    for column in (
        "shares",
        "share_intents",
        "previews",
        "visits",
        "visitors",
        "signups",
        "trips_created",
        "bookings",
        "revenue_cents",
    ):
        assert sum(int(row[column]) for row in rows) == totals[column], column


def test_the_page_draws_its_charts_and_tables_without_script(seeded):
    client = _staff_client()

    response = client.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") >= 3
    assert "<script" not in html.split("<main", 1)[-1].split("</main>", 1)[0]
    assert "kozea" not in html  # no chart script from a CDN
    assert 'data-metric="visitors">6<' in html
    assert 'data-metric="revenue_cents">€70.00<' in html  # in euros, never raw cents
    assert "Marseille (FRMSC)" in html
    assert "Olivia" in html and "Organiser" not in html  # first names only
    assert f"{CSV}?" in html


def test_the_page_explains_a_bad_range():
    response = _staff_client().get(PAGE, {"from": "2026-05-02", "to": "2026-05-01"})

    assert response.status_code == 400
    assert "The first day is after the last one." in response.content.decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"destination": "Lyon!"}, "destination"),
    ],
)
def test_a_bad_query_is_400_in_the_error_shape(query, field):
    response = _staff_client().get(API, query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]


def test_a_full_year_is_allowed():
    response = _staff_client().get(API, {"from": "2025-01-01", "to": "2026-01-01"})

    assert response.status_code == 200
    assert len(response.json()["series"]) == 366


@pytest.mark.parametrize("url", [API, PAGE, CSV])
def test_only_staff_with_the_permission_get_in(url, seeded):
    plain = factories.user("Paula Plain")
    unpermitted = _staff("Steve Staff", permitted=False)
    permitted_user = _staff()
    superuser = factories.user("Susan Super")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()

    def status(user):
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client.get(url)

    anonymous = status(None)
    if url == API:
        assert anonymous.status_code == 403
        assert anonymous.json()["error"]["code"] == "not_authenticated"
    else:
        assert anonymous.status_code == 302
        assert "/accounts/login/" in anonymous["Location"]
    assert status(plain).status_code == 403
    assert status(unpermitted).status_code == 403
    assert status(permitted_user).status_code == 200
    assert status(superuser).status_code == 200


def test_a_permission_without_staff_is_not_enough():
    account = factories.user("Polly Permitted")
    account.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_dashboard")
    )
    client = APIClient()
    client.force_login(account)

    assert client.get(API).status_code == 403


def _queries(client, first: dt.date, last: dt.date) -> list[str]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(API, {"from": first.isoformat(), "to": last.isoformat()})
    assert response.status_code == 200
    return [query["sql"] for query in context.captured_queries]


def test_a_fixed_number_of_queries_whatever_the_range_and_never_the_raw_clicks(seeded):
    client = _staff_client()
    today = seeded["today"]
    client.get(API)  # warm up (session, content types)

    week = _queries(client, today - dt.timedelta(days=6), today)
    quarter = _queries(client, today - dt.timedelta(days=89), today)

    assert len(week) == len(quarter)
    for sql in quarter:
        assert '"referrals_click"' not in sql
    with CaptureQueriesContext(connection) as context:
        board = dashboard_get(first=today - dt.timedelta(days=89), last=today)
    reads = [q["sql"] for q in context.captured_queries if q["sql"].startswith("SELECT ")]
    assert len(reads) == 11
    assert board.totals.visitors == 7  # with the click 40 days ago


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's transactions")
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_dashboard_reads_one_snapshot_with_its_page_cost():
    """Outside any transaction, the selector opens its own: read-only, repeatable read
    (one snapshot for every figure), the planner's page cost set for it alone."""
    seen = {}

    def spy(execute, sql, params, many, context):
        if '"referrals_sharelink"' in sql and "isolation" not in seen:
            with context["connection"].cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('transaction_isolation'), "
                    "current_setting('transaction_read_only'), "
                    "current_setting('random_page_cost')"
                )
                seen["isolation"], seen["read_only"], seen["cost"] = cursor.fetchone()
        return execute(sql, params, many, context)

    today = timezone.localdate()
    with connection.execute_wrapper(spy):
        dashboard_get(first=today - dt.timedelta(days=6), last=today)

    assert seen == {"isolation": "repeatable read", "read_only": "on", "cost": "1.1"}
    assert not connection.in_atomic_block
    with connection.cursor() as cursor:  # SET LOCAL ended with the transaction
        cursor.execute("SELECT current_setting('random_page_cost')")
        assert cursor.fetchone()[0] == "4"
