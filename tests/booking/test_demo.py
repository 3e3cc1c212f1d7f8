import datetime as dt
import io
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import override_settings
from django.utils import timezone, translation

from booking import demo, pricing, selectors
from booking.models import (
    Coach,
    Departure,
    DepartureFare,
    DiscountCard,
    Event,
    FareBucket,
    FareClass,
    PassengerType,
    Seat,
    SeatAllocation,
    SeatNeighbour,
    Station,
    Trip,
    Vehicle,
)
from groups.models import FriendGroup

MODELS = (
    Station,
    Vehicle,
    Coach,
    Seat,
    SeatNeighbour,
    FareClass,
    FareBucket,
    PassengerType,
    DiscountCard,
    Event,
    Departure,
    DepartureFare,
    SeatAllocation,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def load_demo(*args) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


def departures_on(day: dt.date):
    return Departure.objects.filter(
        departs_at__gte=dt.datetime.combine(day, dt.time.min, tzinfo=demo.PARIS),
        departs_at__lt=dt.datetime.combine(
            day + dt.timedelta(days=1), dt.time.min, tzinfo=demo.PARIS
        ),
    )


@dataclass
class Loaded:
    out: str
    counts: dict[str, int]
    today: dt.date


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    """One ``load_demo --days 3`` for the whole module: loading costs seconds (tens of
    thousands of sold seats). Each test still runs in its own rolled-back transaction;
    the rows are removed when the module is done."""
    with django_db_blocker.unblock(), translation.override("en"):
        out = load_demo("--days", "3")
        yield Loaded(out=out, counts=counts(), today=timezone.localdate())
        Trip.objects.all().delete()
        FriendGroup.objects.all().delete()
        get_user_model().objects.all().delete()
        Departure.objects.all().delete()
        Event.objects.all().delete()
        for model in (Vehicle, FareClass, PassengerType, DiscountCard, Station):
            model.objects.all().delete()


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.mark.django_db
def test_load_demo_twice_gives_identical_rows_and_valid_sample_card_numbers(loaded):
    allocations = set(SeatAllocation.objects.values_list("departure_id", "seat_id", "state"))

    again = load_demo("--days", "3")

    assert counts() == loaded.counts
    assert set(SeatAllocation.objects.values_list("departure_id", "seat_id", "state")) == (
        allocations
    )
    assert loaded.counts["Departure"] > 0 and loaded.counts["SeatAllocation"] > 0
    assert f"departures: {loaded.counts['Departure']} (0 new)" in again
    samples = re.findall(r"^  (.+): (\d{12})$", loaded.out, flags=re.MULTILINE)
    assert len(samples) == 3
    cards = {card.name: card for card in DiscountCard.objects.all()}
    for name, number in samples:
        assert selectors.card_number_validate(card=cards[name], number=number) == number


@pytest.mark.django_db
def test_demo_catalog_has_the_stations_fares_travellers_and_cards(loaded):
    stations = {s.code: s for s in Station.objects.all()}
    for code in ("FRPLY", "FRLPD", "FRMSC", "FRLLE", "FRBOJ", "FRPMO"):
        assert stations[code].time_zone == "Europe/Paris"
    assert stations["FRPLY"].name == "Paris Gare de Lyon"
    assert len(stations) >= 10

    fare_classes = {f.code: f for f in FareClass.objects.prefetch_related("buckets")}
    assert set(fare_classes) == {"standard-1", "flex-1", "standard-2", "flex-2"}
    for fare in fare_classes.values():
        flex = fare.code.startswith("flex")
        assert fare.refundable is flex and fare.exchangeable is flex
        assert (fare.refund_fee_cents > 0) is flex
        assert fare.conditions
        buckets = sorted((b.min_load_percent, b.uplift_percent) for b in fare.buckets.all())
        assert buckets[0] == (0, 0)
        assert [u for _, u in buckets] == sorted(u for _, u in buckets)

    ages = {
        p.code: (p.min_age, p.max_age, p.reduction_percent) for p in PassengerType.objects.all()
    }
    assert ages == {
        "child": (4, 11, 50),
        "youth": (12, 27, 0),
        "adult": (28, 59, 0),
        "senior": (60, None, 0),
    }
    cards = list(DiscountCard.objects.all())
    assert {(c.min_age, c.max_age, c.reduction_percent) for c in cards} == {
        (12, 27, 30),
        (28, 59, 30),
        (60, None, 30),
    }
    assert len({c.number_prefix for c in cards}) == 3
    for card in cards:
        number = demo.card_sample_number(card)
        assert len(number) == card.number_length == 12
        assert pricing.luhn_valid(number)

    vehicle = Vehicle.objects.get(code=demo.VEHICLE_CODE)
    seats = Seat.objects.filter(coach__vehicle=vehicle)
    assert Counter(seats.values_list("comfort_class", flat=True)) == {"first": 42, "second": 216}


@pytest.mark.django_db
def test_events_are_a_summer_festival_with_its_departures_and_a_concert_in_lyon(loaded):
    festival = Event.objects.get(kind=Event.Kind.FESTIVAL)
    assert festival.starts_on.month == 7 and festival.ends_on >= loaded.today
    assert festival.station.code == "FRAVG"
    day = max(festival.starts_on, loaded.today)
    while day <= festival.ends_on:
        on_day = departures_on(day)
        assert on_day.filter(destination=festival.station).count() >= 2, day
        assert on_day.filter(origin=festival.station).count() >= 2, day
        day += dt.timedelta(days=1)
    assert departures_on(festival.ends_on + dt.timedelta(days=2)).exists()

    concert = Event.objects.get(kind=Event.Kind.CONCERT)
    assert concert.station.code == "FRLPD"
    assert concert.starts_on == loaded.today + dt.timedelta(days=12)


@pytest.mark.django_db
def test_each_route_runs_several_departures_a_day_each_way_at_its_duration(loaded):
    for offset in range(3):
        day = loaded.today + dt.timedelta(days=offset)
        departures = list(departures_on(day).select_related("origin", "destination"))
        per_direction = Counter((d.origin.code, d.destination.code) for d in departures)
        numbers = [d.service_number for d in departures]
        assert len(numbers) == len(set(numbers)), day
        assert all(re.fullmatch(r"\d{4}", n) for n in numbers)
        for route in demo.ROUTES:
            assert per_direction[(route.origin, route.destination)] >= 2, (day, route)
            assert per_direction[(route.destination, route.origin)] >= 2, (day, route)
        assert per_direction[("FRPLY", "FRLPD")] >= 6
        durations = {(d.origin.code, d.destination.code): d.duration_minutes for d in departures}
        assert durations[("FRPLY", "FRLPD")] in range(110, 125)
        assert durations[("FRPMO", "FRBOJ")] == 125
        local_times = {d.departs_at.astimezone(demo.PARIS).time() for d in departures}
        assert min(local_times) >= dt.time(6, 0) and max(local_times) <= dt.time(21, 0)


def test_departure_times_are_paris_times_on_both_sides_of_a_clock_change():
    six = dt.time(6, 0)
    saturday = demo.departure_times(dt.date(2026, 3, 28), six, 117)
    sunday = demo.departure_times(dt.date(2026, 3, 29), six, 117)  # clocks go forward

    assert saturday[0] == dt.datetime(2026, 3, 28, 5, 0, tzinfo=dt.UTC)
    assert sunday[0] == dt.datetime(2026, 3, 29, 4, 0, tzinfo=dt.UTC)
    assert sunday[0].astimezone(demo.PARIS).time() == six
    # A late train across the October change lasts its real duration.
    departs, arrives = demo.departure_times(dt.date(2026, 10, 24), dt.time(23, 30), 300)
    assert arrives - departs == dt.timedelta(minutes=300)
    assert arrives.astimezone(demo.PARIS).time() == dt.time(3, 30)


@pytest.mark.django_db
def test_every_departure_has_an_integer_fare_per_fare_class_of_its_comfort_classes(loaded):
    comforts = defaultdict(set)
    rows = Seat.objects.values_list("coach__vehicle_id", "comfort_class").distinct()
    for vehicle_id, comfort in rows:
        comforts[vehicle_id].add(comfort)
    classes_by_comfort = defaultdict(set)
    for fare_class in FareClass.objects.all():
        classes_by_comfort[fare_class.comfort_class].add(fare_class.id)
        assert type(fare_class.refund_fee_cents) is int
        assert type(fare_class.exchange_fee_cents) is int
    fares = defaultdict(set)
    for fare in DepartureFare.objects.all():
        assert type(fare.base_price_cents) is int and fare.base_price_cents > 0
        assert fare.currency == "EUR"
        fares[fare.departure_id].add(fare.fare_class_id)

    for departure in Departure.objects.all():
        expected = set().union(*(classes_by_comfort[c] for c in comforts[departure.vehicle_id]))
        assert fares[departure.id] == expected
    lyon = demo.route_prices(demo.ROUTES[0])
    assert lyon["standard-2"] < lyon["flex-2"] < lyon["flex-1"]
    assert lyon["standard-1"] * 100 // lyon["standard-2"] in range(140, 160)
    nice = next(r for r in demo.ROUTES if r.destination == "FRNIC")
    assert demo.route_prices(nice)["standard-2"] > lyon["standard-2"]


@pytest.mark.django_db
def test_a_later_day_adds_the_new_day_and_leaves_existing_departures_alone(loaded):
    before = set(Departure.objects.values_list("id", "service_number", "departs_at"))
    sold_before = dict(Departure.objects.annotate(n=Count("allocations")).values_list("id", "n"))
    per_day = departures_on(loaded.today).count()
    tomorrow = loaded.today + dt.timedelta(days=1)

    report = demo.demo_load(days=3, today=tomorrow)

    assert report.created["departures"] == per_day
    after = set(Departure.objects.values_list("id", "service_number", "departs_at"))
    assert before < after
    added = after - before
    assert {d[2].astimezone(demo.PARIS).date() for d in added} == {
        loaded.today + dt.timedelta(days=3)
    }
    sold_after = dict(Departure.objects.annotate(n=Count("allocations")).values_list("id", "n"))
    assert {k: sold_after[k] for k in sold_before} == sold_before
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_sold_seats_are_the_same_picture_on_every_load(loaded):
    def picture():
        return set(
            SeatAllocation.objects.filter(departure__in=departures_on(loaded.today)).values_list(
                "departure__service_number",
                "departure__departs_at",
                "seat__coach__number",
                "seat__number",
                "state",
            )
        )

    first = picture()
    departures_on(loaded.today).delete()

    demo.demo_load(days=1, today=loaded.today)

    assert picture() == first
    assert {row[-1] for row in first} == {"sold"}


def test_trains_fill_up_as_the_day_comes_near_and_fridays_sell_best():
    today = dt.date(2026, 3, 23)  # a Monday

    def average(days_ahead, hour=11, boosted=False):
        day = today + dt.timedelta(days=days_ahead)
        shares = [
            demo._load_share(random.Random(n), day=day, today=today, hour=hour, boosted=boosted)
            for n in range(300)
        ]
        return sum(shares) / len(shares)

    assert average(1) > 0.4 > 0.15 > average(29)
    assert average(11) > average(10)  # Friday over Thursday
    assert average(29, boosted=True) > average(29) + 0.1
    assert average(10, hour=8) > average(10, hour=11)
    assert all(
        0
        <= demo._load_share(random.Random(n), day=today, today=today, hour=8, boosted=True)
        <= 0.98
        for n in range(300)
    )


def test_train_numbers_are_unique_per_departure_time():
    numbers = [slot[0] for route in demo.ROUTES for slot in route.slots()]

    assert len(numbers) == len(set(numbers))
    assert all(len(n) == 4 for n in numbers)


@pytest.mark.django_db
def test_with_operator_creates_the_demo_superuser_once_and_only_in_debug(loaded):
    with pytest.raises(CommandError, match="DJANGO_DEBUG"):
        load_demo("--days", "0", "--with-operator")
    assert not get_user_model().objects.filter(username=demo.OPERATOR_USERNAME).exists()

    with override_settings(DEBUG=True):
        out = load_demo("--days", "0", "--with-operator")
        again = load_demo("--days", "0", "--with-operator")

    user = get_user_model().objects.get(username=demo.OPERATOR_USERNAME)
    assert user.is_staff and user.is_superuser
    assert user.check_password(demo.OPERATOR_PASSWORD)
    assert "operator / sidebyside-demo" in out
    assert "already exists" in again


@pytest.mark.django_db
def test_demo_has_a_public_trip_to_the_concert_and_a_private_one(loaded):
    assert Trip.objects.count() == 2
    concert = Event.objects.get(slug="les-aiguilleurs-lyon")
    public = Trip.objects.get(event=concert)
    assert public.group.privacy == "public"
    assert public.group.memberships.filter(status="active").count() == 2
    assert Trip.objects.exclude(pk=public.pk).get().group.privacy == "private"
    # A second load adds no trip, person or membership.
    before = (Trip.objects.count(), get_user_model().objects.count())
    load_demo("--days", "0")
    assert (Trip.objects.count(), get_user_model().objects.count()) == before
