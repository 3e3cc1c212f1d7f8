"""The catalog API through its public door (DRF's APIClient): search results for a local
date in the origin's time zone, seats and prices that follow sales, and bad input that is
always a JSON error of one shape, never a 5xx or an HTML page."""

import datetime as dt
import zoneinfo

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from booking import pricing
from booking.models import Departure
from tests import factories

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def route():
    return factories.station(code="FRPLY"), factories.station(code="FRLPD")


def _paris_today() -> dt.date:
    return timezone.now().astimezone(PARIS).date()


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)


def _search(api, day, origin="FRPLY", destination="FRLPD"):
    return api.get(
        "/api/departures/",
        {"origin": origin, "destination": destination, "date": str(day)},
    )


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape: {"error": {"code", "message", ["fields"]}}, as JSON."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if "fields" in error:
        assert isinstance(error["fields"], dict) and error["fields"]
        for messages in error["fields"].values():
            assert messages and all(isinstance(m, str) and m for m in messages)
    if code is not None:
        assert error["code"] == code
    return error


def _next_dst_change(after: dt.date, *, forward: bool) -> dt.date:
    """The next day (within a year) on which Paris clocks go forward (or back)."""
    for offset in range(1, 366):
        day = after + dt.timedelta(days=offset)
        before, later = _at(day, 0).utcoffset(), _at(day, 23).utcoffset()
        if (later > before) if forward else (later < before):
            return day
    raise AssertionError("no change of clocks within a year")


def _day(kind: str) -> dt.date:
    today = _paris_today()
    if kind == "ordinary":
        return today + dt.timedelta(days=10)
    return _next_dst_change(today, forward=kind == "clocks forward")


# --- Results --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ordinary", "clocks forward", "clocks back"])
def test_search_returns_the_departures_of_that_local_date_in_paris_only(api, route, kind):
    origin, destination = route
    day = _day(kind)
    inside = [
        factories.departure(origin=origin, destination=destination, departs_at=_at(day, 0, 30)),
        factories.departure(origin=origin, destination=destination, departs_at=_at(day, 23, 30)),
    ]
    for outside in (
        _at(day - dt.timedelta(days=1), 23, 30),
        _at(day + dt.timedelta(days=1), 0, 30),
    ):
        factories.departure(origin=origin, destination=destination, departs_at=outside)
    factories.departure(origin=destination, destination=origin, departs_at=_at(day, 12))

    response = _search(api, day)

    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body] == [d.id for d in inside]
    assert [d["departs_at"][:16] for d in body] == [f"{day}T00:30", f"{day}T23:30"]


def test_departures_that_left_earlier_today_are_not_offered(api, route, monkeypatch):
    origin, destination = route
    today = _paris_today()
    noon = _at(today, 12)
    monkeypatch.setattr(timezone, "now", lambda: noon.astimezone(dt.UTC))
    factories.departure(origin=origin, destination=destination, departs_at=_at(today, 9))
    later = factories.departure(origin=origin, destination=destination, departs_at=_at(today, 15))

    body = _search(api, today).json()

    assert [d["id"] for d in body] == [later.id]


def test_cancelled_departures_are_not_offered(api, route):
    origin, destination = route
    day = _paris_today() + dt.timedelta(days=3)
    kept = factories.departure(origin=origin, destination=destination, departs_at=_at(day, 8))
    cancelled = factories.departure(origin=origin, destination=destination, departs_at=_at(day, 9))
    Departure.objects.filter(pk=cancelled.pk).update(status=Departure.Status.CANCELLED)

    body = _search(api, day).json()

    assert [d["id"] for d in body] == [kept.id]


def test_seats_left_are_counted_per_comfort_class_after_sales(api, route):
    origin, destination = route
    day = _paris_today() + dt.timedelta(days=3)
    dep = factories.departure(origin=origin, destination=destination, departs_at=_at(day, 8))
    first = list(dep.vehicle.coaches.get(number=1).seats.all())
    second = list(dep.vehicle.coaches.get(number=2).seats.all())
    factories.sell(dep, first[:1] + second[:3])

    [result] = _search(api, day).json()

    classes = {c["comfort_class"]: c for c in result["classes"]}
    assert (classes["first"]["seats_total"], classes["first"]["seats_left"]) == (6, 5)
    assert (classes["second"]["seats_total"], classes["second"]["seats_left"]) == (12, 9)
    assert result["seats_left"] == 14


def test_price_from_follows_the_fare_buckets_once_a_class_is_more_than_half_sold(api, route):
    origin, destination = route
    day = _paris_today() + dt.timedelta(days=3)
    dep = factories.departure(
        origin=origin,
        destination=destination,
        departs_at=_at(day, 8),
        prices={"standard-2": 4_500, "flex-2": 6_500, "standard-1": 4_800, "flex-1": 9_000},
    )
    before = _search(api, day).json()[0]
    assert before["price_from_cents"] == 4_500
    factories.sell(dep, list(dep.vehicle.coaches.get(number=2).seats.all())[:7])  # 58 %

    after = _search(api, day).json()[0]

    classes = {c["comfort_class"]: c for c in after["classes"]}
    assert classes["second"]["price_from_cents"] == 5_400  # +20 % from 50 %
    assert classes["first"]["price_from_cents"] == 4_800
    assert after["price_from_cents"] == 4_800
    assert after["currency"] == "EUR"


def test_a_sold_out_class_has_no_price(api, route):
    origin, destination = route
    day = _paris_today() + dt.timedelta(days=3)
    dep = factories.departure(origin=origin, destination=destination, departs_at=_at(day, 8))
    factories.sell(dep, list(dep.vehicle.coaches.get(number=2).seats.all()))

    [result] = _search(api, day).json()

    classes = {c["comfort_class"]: c for c in result["classes"]}
    assert classes["second"]["seats_left"] == 0
    assert classes["second"]["price_from_cents"] is None
    assert result["price_from_cents"] == 7_000


def test_lower_case_station_codes_are_accepted(api, route):
    origin, destination = route
    day = _paris_today() + dt.timedelta(days=3)
    dep = factories.departure(origin=origin, destination=destination, departs_at=_at(day, 8))

    response = _search(api, day, origin="frply", destination="FrLpD")

    assert response.status_code == 200
    assert [d["id"] for d in response.json()] == [dep.id]


def test_a_search_up_to_the_last_day_allowed_is_answered(api, route):
    last = _paris_today() + dt.timedelta(days=settings.SIDEBYSIDE["SEARCH_MAX_DAYS_AHEAD"])
    response = _search(api, last)
    assert response.status_code == 200
    assert response.json() == []


# --- Bad input: always a 4xx JSON error -----------------------------------------------------


def test_search_from_an_unknown_station_is_refused_with_400_naming_it(api, route):
    error = assert_error(_search(api, _paris_today(), origin="ZZZZZ"), 400, code="unknown_station")
    assert "ZZZZZ" in error["message"]


def test_search_to_an_unknown_station_is_refused_with_400_naming_it(api, route):
    error = assert_error(
        _search(api, _paris_today(), destination="QQQQQ"), 400, code="unknown_station"
    )
    assert "QQQQQ" in error["message"]


@pytest.mark.parametrize("date", ["2026-13-01", "tomorrow", "01/02/2030", "2027-02-30", ""])
def test_search_with_a_malformed_date_is_refused_with_400(api, route, date):
    error = assert_error(_search(api, date), 400, code="invalid")
    assert set(error["fields"]) == {"date"}


def test_search_with_a_date_in_the_past_is_refused_with_400(api, route):
    yesterday = _paris_today() - dt.timedelta(days=1)
    assert_error(_search(api, yesterday), 400, code="date_out_of_range")


def test_search_too_far_ahead_is_refused_with_400(api, route):
    days = settings.SIDEBYSIDE["SEARCH_MAX_DAYS_AHEAD"]
    too_far = _paris_today() + dt.timedelta(days=days + 1)
    error = assert_error(_search(api, too_far), 400, code="date_out_of_range")
    assert str(days) in error["message"]


def test_search_with_missing_parameters_is_refused_with_400_listing_them(api, route):
    error = assert_error(api.get("/api/departures/", {"origin": "FRPLY"}), 400, code="invalid")
    assert set(error["fields"]) == {"destination", "date"}
    error = assert_error(api.get("/api/departures/"), 400, code="invalid")
    assert set(error["fields"]) == {"origin", "destination", "date"}


@pytest.mark.parametrize("code", ["FRPL", "FRPLYX", "FR1LY", "FR LY"])
def test_search_with_a_malformed_station_code_is_refused_with_400(api, route, code):
    error = assert_error(_search(api, _paris_today(), origin=code), 400, code="invalid")
    assert set(error["fields"]) == {"origin"}


def test_search_from_a_station_to_itself_is_refused_with_400(api, route):
    error = assert_error(
        _search(api, _paris_today(), destination="frply"), 400, code="same_stations"
    )
    assert set(error["fields"]) == {"destination"}


def test_an_unknown_departure_is_a_404_json_error(api):
    assert_error(api.get("/api/departures/999999/"), 404, code="departure_not_found")
    assert_error(api.get("/api/departures/999999/price/?fare_class=standard-2"), 404)


def test_a_departure_id_beyond_any_database_integer_is_a_404_not_a_crash(api):
    assert_error(api.get(f"/api/departures/{10**30}/"), 404)


def test_a_departure_id_that_is_not_a_number_is_a_404_json_error_not_html(api):
    assert_error(api.get("/api/departures/abc/"), 404, code="not_found")
    assert_error(api.get("/api/departures/-1/price/"), 404, code="not_found")


@pytest.mark.parametrize("path", ["/api/whatever/", "/api/whatever", "/api/stations/x/"])
def test_an_unknown_api_url_is_a_404_json_error(api, path):
    assert_error(api.get(path), 404, code="not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/departures/"),
        ("delete", "/api/stations/"),
        ("put", "/api/departures/1/"),
        ("post", "/api/departures/1/price/"),
        ("patch", "/api/events/"),
    ],
)
def test_a_write_to_a_read_only_endpoint_is_a_405_json_error(api, method, path):
    response = getattr(api, method)(path, {}, format="json")
    assert_error(response, 405, code="method_not_allowed")
    assert "GET" in response["Allow"]


# --- The price endpoint ---------------------------------------------------------------------


@pytest.fixture
def priced(route):
    origin, destination = route
    factories.passenger_types()
    factories.discount_cards()
    return factories.departure(origin=origin, destination=destination)


def _price(api, dep, **params):
    return api.get(f"/api/departures/{dep.id}/price/", params)


def test_the_price_endpoint_quotes_a_youth_with_a_spaced_card_number(api, priced):
    partial = "29012345678"
    number = partial + pricing.luhn_check_digit(partial)
    response = _price(
        api,
        priced,
        fare_class="standard-2",
        passenger_type="youth",
        age=20,
        card="youth-card",
        card_number=f" {number[:4]} {number[4:8]} {number[8:]} ",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "amount_cents": 3_150,
        "currency": "EUR",
        "base_cents": 4_500,
        "fare_cents": 4_500,
        "uplift_percent": 0,
        "reduction_percent": 30,
        "reduction_source": "card:youth-card",
    }


def test_the_price_endpoint_without_a_fare_class_is_refused_with_400(api, priced):
    error = assert_error(_price(api, priced), 400, code="invalid")
    assert set(error["fields"]) == {"fare_class"}


def test_the_price_endpoint_for_a_fare_not_sold_is_refused_with_400(api, priced):
    assert_error(_price(api, priced, fare_class="sleeper"), 400, code="fare_not_offered")


@pytest.mark.parametrize("age", ["abc", "-1", "121", "1e3", "20.5"])
def test_the_price_endpoint_with_an_impossible_age_is_refused_with_400(api, priced, age):
    error = assert_error(_price(api, priced, fare_class="standard-2", age=age), 400, code="invalid")
    assert set(error["fields"]) == {"age"}


def test_the_price_endpoint_with_an_age_outside_the_type_is_refused_with_400(api, priced):
    error = assert_error(
        _price(api, priced, fare_class="standard-2", passenger_type="child", age=40),
        400,
        code="not_eligible",
    )
    assert set(error["fields"]) == {"age"}


def test_the_price_endpoint_with_a_mistyped_card_number_is_refused_with_400(api, priced):
    error = assert_error(
        _price(
            api,
            priced,
            fare_class="standard-2",
            passenger_type="youth",
            age=20,
            card="youth-card",
            card_number="290123456780",
        ),
        400,
        code="card_number_invalid",
    )
    assert set(error["fields"]) == {"card_number"}


def test_unknown_station_and_date_errors_name_the_field_at_fault(api, route):
    assert assert_error(_search(api, _paris_today(), origin="ZZZZZ"), 400)["fields"].keys() == {
        "origin"
    }
    assert assert_error(_search(api, _paris_today(), destination="ZZZZZ"), 400)[
        "fields"
    ].keys() == {"destination"}
    yesterday = _paris_today() - dt.timedelta(days=1)
    assert assert_error(_search(api, yesterday), 400)["fields"].keys() == {"date"}


def test_the_price_of_a_cancelled_train_is_refused_with_400(api, priced):
    priced.status = Departure.Status.CANCELLED
    priced.save(update_fields=["status"])
    error = assert_error(
        _price(api, priced, fare_class="standard-2"), 400, code="departure_not_bookable"
    )
    assert "cancel" in error["message"].lower() or "supprim" in error["message"].lower()


def test_the_price_of_a_train_that_has_left_is_refused_with_400(api, priced):
    priced.departs_at = timezone.now() - dt.timedelta(minutes=5)
    priced.arrives_at = priced.departs_at + dt.timedelta(hours=2)
    priced.save(update_fields=["departs_at", "arrives_at"])
    assert_error(_price(api, priced, fare_class="standard-2"), 400, code="departure_not_bookable")


def test_fare_names_and_demo_conditions_are_shown_in_the_request_language(api, priced):
    from booking.models import FareClass

    FareClass.objects.filter(code="flex-2").update(
        conditions=(
            "Exchangeable free of charge until departure. Refundable until departure, "
            "minus the refund fee."
        )
    )
    fares = {
        f["code"]: f
        for f in api.get(f"/api/departures/{priced.id}/", HTTP_ACCEPT_LANGUAGE="fr").json()["fares"]
    }
    assert fares["flex-2"]["conditions"].startswith("Échangeable sans frais")
    fares = {
        f["code"]: f
        for f in api.get(f"/api/departures/{priced.id}/", HTTP_ACCEPT_LANGUAGE="en").json()["fares"]
    }
    assert fares["flex-2"]["conditions"].startswith("Exchangeable free of charge")
