"""Hot read paths cost a fixed number of queries, whatever the number of departures found
or the size of the train (no N+1)."""

import copy
import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from booking import selectors
from booking.models import Seat
from booking.services import vehicle_import
from tests import factories

pytestmark = pytest.mark.django_db

# Budgets: a regression that adds a query per row blows these long before it is noticed.
SEARCH_QUERIES = 7
DETAIL_QUERIES = 9
PRICE_QUERIES = 6


def _queries(func) -> int:
    with CaptureQueriesContext(connection) as context:
        func()
    return len(context.captured_queries)


@pytest.fixture
def route():
    return factories.station(), factories.station()


def _day() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=5)


def _add_departures(route, count: int, *, start_hour: int) -> list:
    origin, destination = route
    departures = []
    for n in range(count):
        departs_at = dt.datetime.combine(_day(), dt.time(start_hour + n), tzinfo=origin.zone)
        dep = factories.departure(origin=origin, destination=destination, departs_at=departs_at)
        factories.sell(dep, list(dep.vehicle.coaches.get(number=2).seats.all())[: n + 1])
        departures.append(dep)
    return departures


def _big_vehicle():
    """Six coaches, many rows, two decks in one coach: far more seats than the small map."""
    data = factories.small_seat_map(first_rows=6, second_rows=12)
    second = data["coaches"][1]
    for number in range(3, 7):
        coach = copy.deepcopy(second)
        coach["number"] = number
        data["coaches"].append(coach)
    upper = copy.deepcopy(second["seats"])
    for seat in upper:
        seat["deck"] = "upper"
        seat["number"] += 100
    data["coaches"][2]["double_deck"] = True
    data["coaches"][2]["seats"] += upper
    return vehicle_import(data=data)[0]


def test_departure_search_costs_the_same_queries_for_one_and_for_eight_departures(route):
    origin, destination = route

    def search():
        return selectors.departure_search(
            origin_code=origin.code, destination_code=destination.code, on_date=_day()
        )

    _add_departures(route, 1, start_hour=6)
    assert len(search()) == 1
    one = _queries(search)
    _add_departures(route, 7, start_hour=8)
    assert len(search()) == 8
    eight = _queries(search)

    assert one == eight <= SEARCH_QUERIES


def test_departure_detail_costs_the_same_queries_for_a_small_and_a_big_train():
    small = factories.departure()
    big = factories.departure(vehicle_obj=_big_vehicle())
    factories.sell(big, list(big.vehicle.coaches.get(number=4).seats.all())[:9])
    small_detail = selectors.departure_detail(departure_id=small.id)
    big_detail = selectors.departure_detail(departure_id=big.id)
    assert len(big_detail.coaches) == 6 > len(small_detail.coaches)

    small_cost = _queries(lambda: selectors.departure_detail(departure_id=small.id))
    big_cost = _queries(lambda: selectors.departure_detail(departure_id=big.id))

    assert small_cost == big_cost <= DETAIL_QUERIES


def test_the_search_api_costs_the_same_queries_for_one_and_for_eight_departures(route):
    origin, destination = route
    client = APIClient()
    params = {"origin": origin.code, "destination": destination.code, "date": str(_day())}

    def get():
        response = client.get("/api/departures/", params)
        assert response.status_code == 200
        return response.json()

    _add_departures(route, 1, start_hour=6)
    assert len(get()) == 1
    one = _queries(get)
    _add_departures(route, 7, start_hour=8)
    assert len(get()) == 8
    eight = _queries(get)

    assert one == eight <= SEARCH_QUERIES


def test_the_departure_api_costs_the_same_queries_for_a_small_and_a_big_train():
    client = APIClient()
    small = factories.departure()
    big = factories.departure(vehicle_obj=_big_vehicle())
    factories.sell(big, list(big.vehicle.coaches.get(number=3).seats.all())[:20])

    def get(dep):
        response = client.get(f"/api/departures/{dep.id}/")
        assert response.status_code == 200
        return response.json()

    seats = sum(len(d["seats"]) for c in get(big)["coaches"] for d in c["decks"])
    assert seats > 5 * sum(len(d["seats"]) for c in get(small)["coaches"] for d in c["decks"])

    assert _queries(lambda: get(small)) == _queries(lambda: get(big)) <= DETAIL_QUERIES


def test_the_price_api_costs_a_fixed_number_of_queries_whatever_the_sales():
    client = APIClient()
    factories.passenger_types()
    empty = factories.departure()
    busy = factories.departure(vehicle_obj=_big_vehicle())
    second_class = Seat.objects.filter(coach__vehicle=busy.vehicle, comfort_class="second")
    factories.sell(busy, second_class)

    def get(dep):
        response = client.get(f"/api/departures/{dep.id}/price/", {"fare_class": "standard-2"})
        assert response.status_code == 200
        return response.json()

    assert get(busy)["uplift_percent"] > get(empty)["uplift_percent"] == 0
    assert _queries(lambda: get(empty)) == _queries(lambda: get(busy)) <= PRICE_QUERIES


def test_the_plan_snapshot_with_prices_from_costs_the_same_for_two_and_five_options():
    """Each option's "from" price (what a traveller without a fare is shown) is read for
    all options at once: five options cost what two do."""
    from booking.plan import fare_choose
    from booking.plan_selectors import plan_snapshot

    def snapshot_queries(options: int) -> tuple[int, dict]:
        trip, people, _departures = factories.planned_trip(travellers=3, options=options)
        fare_choose(trip_id=trip.pk, user=people[1], leg="outbound", fare_class_code="standard-2")
        snapshot = {}

        def read():
            snapshot.update(plan_snapshot(user=people[2], trip_id=trip.pk))

        return _queries(read), snapshot

    two, _small = snapshot_queries(2)
    five, big = snapshot_queries(5)
    assert two == five
    options = big["legs"][0]["options"]
    assert len(options) == 5
    # Everyone sees every option's lowest price, with or without a fare of their own.
    assert all(o["price_from"]["amount_cents"] > 0 for o in options)
    assert all(o["price_from"]["currency"] == "EUR" for o in options)
