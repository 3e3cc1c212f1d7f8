"""Schemathesis drives every documented API operation in-process, through Django's WSGI
handler, against a seeded catalog: no answer may be a 5xx, every status must be one the
schema documents, every body must match its documented schema, and input that violates
the schema must be refused with a 4xx.

Generated ids and codes rarely exist, so two hooks swap some generated values for the
seeded ones (only values that are already valid, so a negative case stays negative); the
fuzzer then reaches the happy paths some of the time, and explicit cases reach each one
for certain.

The catalog is committed (``transactional_db``): the WSGI handler runs Django's
request_started / request_finished signals, which close a connection left inside the
test's transaction, as production would between requests.
"""

import datetime as dt
import re

import pytest
import schemathesis
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from booking import pricing
from booking.models import Station
from tests import factories

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]

# Filled by the ``catalog`` fixture before any example is drawn.
SEED: dict[str, list] = {}

_STATION_CODE = re.compile(r"[A-Za-z]{5}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,20}")


def _matches(pattern: re.Pattern):
    return lambda value: isinstance(value, str) and pattern.fullmatch(value) is not None


def _is_id(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, str) and value.isascii() and value.isdigit()
    )


def _is_date(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    value = (path_parameters or {}).get("departure_id")
    if not SEED or not _is_id(value):
        return st.just(path_parameters)
    return st.sampled_from([value, *SEED["departure_ids"]]).map(
        lambda i: {**path_parameters, "departure_id": i}
    )


# What a generated query value must look like to be swapped for a seeded one.
_SWAPPABLE = {
    "origin": _matches(_STATION_CODE),
    "destination": _matches(_STATION_CODE),
    "date": _is_date,
    "fare_class": _matches(_SLUG),
    "passenger_type": _matches(_SLUG),
    "card": _matches(_SLUG),
    "card_number": lambda value: isinstance(value, str) and len(value) <= 40,
    "age": lambda value: _is_id(value) and int(value) <= 120,
}


_TRAVELLER = {"passenger_type", "age", "card", "card_number"}


@schema.hook
def flatmap_query(context, query):
    """Keep the generated query, or swap its valid values for those of one seeded profile
    (a route and date that exist; a fare and a traveller whose age, type and card agree)."""
    if not SEED or not isinstance(query, dict):
        return st.just(query)
    swappable = [
        key for key, value in query.items() if key in _SWAPPABLE and _SWAPPABLE[key](value)
    ]
    if not swappable:
        return st.just(query)
    if _TRAVELLER & set(swappable):
        # The traveller's parameters are optional: fill in the missing ones so age, type
        # and card agree. (Required ones are never added: a case that leaves one out on
        # purpose must stay a case that the API refuses.)
        swappable += sorted(_TRAVELLER - query.keys())
    seeded = st.sampled_from(SEED["profiles"]).map(
        lambda profile: {**query, **{key: profile[key] for key in swappable}}
    )
    return st.one_of(st.just(query), seeded)


def _number(prefix: str) -> str:
    partial = prefix + "1234567"
    return partial + pricing.luhn_check_digit(partial)


@pytest.fixture
def catalog(transactional_db):
    today = timezone.localdate()
    paris = Station.objects.create(code="FRPLY", name="Paris Gare de Lyon", city="Paris")
    lyon = Station.objects.create(code="FRLPD", name="Lyon Part-Dieu", city="Lyon")
    departures = []
    for days in (1, 2):
        day = today + dt.timedelta(days=days)
        departs_at = dt.datetime.combine(day, dt.time(9, 30), tzinfo=paris.zone)
        departures.append(
            factories.departure(origin=paris, destination=lyon, departs_at=departs_at)
        )
    factories.sell(departures[0], list(departures[0].vehicle.coaches.get(number=2).seats.all()))
    passengers = factories.passenger_types()
    cards = factories.discount_cards()
    factories.event(station_obj=lyon)
    routes = [("FRPLY", "FRLPD"), ("frply", "FRLPD"), ("FRLPD", "FRPLY")]
    dates = [(today + dt.timedelta(days=d)).isoformat() for d in (1, 2)]
    travellers = [
        {"passenger_type": "adult", "age": 35, "card": "", "card_number": ""},
        {
            "passenger_type": "youth",
            "age": 20,
            "card": "youth-card",
            "card_number": _number("2901"),
        },
        {"passenger_type": "child", "age": 8, "card": "", "card_number": ""},
        {
            "passenger_type": "senior",
            "age": 70,
            "card": "senior-card",
            "card_number": _number("2906"),
        },
    ]
    profiles = []
    for n in range(12):
        origin, destination = routes[n % 3]
        profiles.append(
            {
                "origin": origin,
                "destination": destination,
                "date": dates[n % 2],
                "fare_class": ["standard-2", "flex-1"][n % 2],
                **travellers[n % 4],
            }
        )
    assert set(passengers) >= {t["passenger_type"] for t in travellers}
    assert set(cards) >= {t["card"] for t in travellers} - {""}
    SEED.update(departure_ids=[d.id for d in departures], profiles=profiles)
    yield {"departures": departures, "profiles": profiles}
    SEED.clear()


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_api_answer_is_documented_and_never_a_server_error(case, catalog):
    case.call_and_validate(checks=CHECKS)


# Placeholders for values known only once the catalog is seeded.
DEPARTURE, DATE, YOUTH_CARD_NUMBER = "<departure id>", "<date>", "<youth card number>"


def _filled(values: dict, catalog) -> dict:
    departure = catalog["departures"][0]
    known = {
        DEPARTURE: departure.id,
        DATE: departure.departs_at.astimezone(departure.origin.zone).date().isoformat(),
        YOUTH_CARD_NUMBER: _number("2901"),
    }
    return {key: known.get(value, value) for key, value in values.items()}


@pytest.mark.parametrize(
    ("path", "path_parameters", "query"),
    [
        ("/api/stations/", {}, {"q": "lyon"}),
        ("/api/events/", {}, {}),
        ("/api/departures/", {}, {"origin": "frply", "destination": "FRLPD", "date": DATE}),
        ("/api/departures/{departure_id}/", {"departure_id": DEPARTURE}, {}),
        (
            "/api/departures/{departure_id}/price/",
            {"departure_id": DEPARTURE},
            {
                "fare_class": "standard-2",
                "passenger_type": "youth",
                "age": 20,
                "card": "youth-card",
                "card_number": YOUTH_CARD_NUMBER,
            },
        ),
    ],
)
def test_each_operation_answers_its_happy_path_as_documented(catalog, path, path_parameters, query):
    case = schema[path]["GET"].Case(
        path_parameters=_filled(path_parameters, catalog), query=_filled(query, catalog)
    )

    response = case.call_and_validate(checks=CHECKS)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body, "an empty answer proves little"
    if path == "/api/departures/":
        assert [d["id"] for d in body] == [catalog["departures"][0].id]
    if path.endswith("/price/"):
        assert body["reduction_source"] == "card:youth-card"
        assert body["uplift_percent"] == 50  # the seeded departure's second class is sold out


@pytest.mark.parametrize(
    ("path", "path_parameters", "query", "status"),
    [
        ("/api/departures/", {}, {"origin": "ZZZZZ", "destination": "FRLPD", "date": DATE}, 400),
        ("/api/departures/{departure_id}/", {"departure_id": 10**9}, {}, 404),
        (
            "/api/departures/{departure_id}/price/",
            {"departure_id": DEPARTURE},
            {"fare_class": "sleeper"},
            400,
        ),
    ],
)
def test_error_answers_match_the_documented_error_shape(
    catalog, path, path_parameters, query, status
):
    case = schema[path]["GET"].Case(
        path_parameters=_filled(path_parameters, catalog), query=_filled(query, catalog)
    )

    response = case.call_and_validate(checks=CHECKS)

    assert response.status_code == status
    assert set(response.json()["error"]) >= {"code", "message"}


def test_the_schema_is_valid_openapi_generated_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert "/api/departures/{departure_id}/price/" in (tmp_path / "schema.yaml").read_text()
