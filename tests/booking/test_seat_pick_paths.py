"""``plan.seat_pick`` on a settled leg, the live plan's hot path: on PostgreSQL it runs as
two hand-written reads (``booking.seat_pick_pg``), on SQLite through the ORM. The
same tests run on both (the suite runs twice), so both paths keep one set of rules: the
same errors, the same rows, the same event and broadcasts."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from booking import errors, live, plan
from booking.models import (
    AllocationState,
    DepartureFare,
    FareClass,
    Seat,
    SeatAllocation,
    TravellerFare,
    Trip,
    TripEvent,
)
from groups.errors import NotMember
from groups.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def settled():
    trip, people, (early, late) = factories.planned_trip(travellers=3, options=2)
    plan.poll_settle(trip_id=trip.pk, by=people[0], leg="outbound", departure_id=early.pk)
    trip.refresh_from_db()
    return trip, people, early, late


@pytest.fixture
def sent(monkeypatch, django_capture_on_commit_callbacks):
    """The broadcasts that leave after commit, as (group, message)."""
    messages = []
    monkeypatch.setattr(live, "_send", lambda group, message: messages.append((group, message)))

    class Capture:
        def __call__(self):
            return django_capture_on_commit_callbacks(execute=True)

        messages = None

    capture = Capture()
    capture.messages = messages
    return capture


def seats(departure, comfort_class="second"):
    return list(
        Seat.objects.filter(coach__vehicle=departure.vehicle, comfort_class=comfort_class)
        .select_related("coach")
        .order_by("coach__number", "number")
    )


def pick(trip, user, seat, departure_id=None):
    return plan.seat_pick(
        trip_id=trip.pk, user=user, leg="outbound", seat_id=seat.pk, departure_id=departure_id
    )


def rows(trip):
    trip.refresh_from_db()
    return (
        trip.version,
        list(TripEvent.objects.filter(trip=trip).values_list("version", "kind", "payload")),
        list(
            SeatAllocation.objects.order_by("pk").values_list(
                "state", "seat_id", "user_id", "departure_id"
            )
        ),
        list(TravellerFare.objects.order_by("pk").values_list("user_id", "fare_class__code")),
    )


def test_a_first_pick_holds_the_seat_gives_a_default_fare_and_says_so_once(settled, sent):
    trip, (_olivia, ana, _ben), early, _late = settled
    seat = seats(early)[0]
    before = trip.version
    with sent():
        event = pick(trip, ana, seat)

    assert event.version == before + 1 and event.kind == "seat_held"
    stored = TripEvent.objects.get(trip=trip, version=event.version)
    assert (
        stored.payload
        == event.payload
        == {
            "leg": "outbound",
            "departure_id": early.pk,
            "holds": [
                {
                    "user_id": ana.pk,
                    "seat_id": seat.pk,
                    "label": f"{seat.coach.number}-{seat.number}",
                }
            ],
            "released": [],
        }
    )
    assert stored.actor_id == ana.pk
    hold = SeatAllocation.objects.get(state=AllocationState.HELD)
    assert (hold.seat_id, hold.user_id, hold.departure_id, hold.leg.trip_id) == (
        seat.pk,
        ana.pk,
        early.pk,
        trip.pk,
    )
    assert hold.expires_at > timezone.now()
    fare = TravellerFare.objects.get(user=ana)
    expected = (
        FareClass.objects.filter(comfort_class="second").order_by("sort_order", "code").first()
    )
    assert (fare.fare_class, fare.passenger_type.code) == (expected, "adult")
    # One message to the trip (the stored event), one to the departure's watchers.
    assert len(sent.messages) == 2
    # Each carries its frame's text, made once for every socket of the group.
    messages = dict(sent.messages)
    assert {group: message["type"] for group, message in messages.items()} == {
        live.trip_group(trip.pk): "trip.event",
        live.departure_group(early.pk): "departure.seats",
    }
    assert json.loads(messages[live.trip_group(trip.pk)]["text"]) == live.event_message(stored)
    assert json.loads(messages[live.departure_group(early.pk)]["text"]) == {
        "type": "seats",
        "departure_id": early.pk,
        "seats": [{"seat_id": seat.pk, "status": "held"}],
    }


def test_moving_seat_releases_the_old_one_in_the_same_change(settled, sent):
    trip, (_olivia, ana, _ben), early, _late = settled
    first, second = seats(early)[:2]
    pick(trip, ana, first)
    with sent():
        event = pick(trip, ana, second)
    assert event.payload["released"] == [
        {"departure_id": early.pk, "seat_id": first.pk, "user_id": ana.pk}
    ]
    held = SeatAllocation.objects.filter(state=AllocationState.HELD)
    assert list(held.values_list("seat_id", flat=True)) == [second.pk]
    assert SeatAllocation.objects.get(seat=first).state == AllocationState.RELEASED
    assert json.loads(dict(sent.messages)[live.departure_group(early.pk)]["text"])["seats"] == [
        {"seat_id": first.pk, "status": "free"},
        {"seat_id": second.pk, "status": "held"},
    ]


def test_picking_ones_own_seat_again_refreshes_the_hold_only(settled, sent):
    trip, (_olivia, ana, _ben), early, _late = settled
    seat = seats(early)[0]
    pick(trip, ana, seat)
    hold = SeatAllocation.objects.get(state=AllocationState.HELD)
    SeatAllocation.objects.filter(pk=hold.pk).update(
        expires_at=timezone.now() + dt.timedelta(seconds=5)
    )
    with sent():
        event = pick(trip, ana, seat)
    again = SeatAllocation.objects.get(state=AllocationState.HELD)
    assert again.pk == hold.pk
    assert again.expires_at > timezone.now() + dt.timedelta(seconds=60)
    assert event.payload["released"] == [] and event.payload["holds"][0]["seat_id"] == seat.pk
    assert SeatAllocation.objects.count() == 1
    # The trip hears of it; the departure's watchers have nothing new to see.
    assert [group for group, _message in sent.messages] == [live.trip_group(trip.pk)]


def test_a_taken_seat_is_refused_and_nothing_changes(settled):
    trip, (_olivia, ana, ben), early, _late = settled
    mine, theirs = seats(early)[:2]
    pick(trip, ana, theirs)
    pick(trip, ben, mine)
    before = rows(trip)
    with pytest.raises(errors.SeatTaken):
        pick(trip, ben, theirs)  # ben's own hold stays where it was
    assert rows(trip) == before
    sold = seats(early)[2]
    factories.sell(early, [sold])
    with pytest.raises(errors.SeatTaken):
        pick(trip, ben, sold)
    assert rows(trip)[:2] == before[:2]


def test_an_expired_hold_on_the_seat_does_not_stand_in_the_way(settled):
    trip, (_olivia, ana, ben), early, _late = settled
    seat = seats(early)[0]
    pick(trip, ana, seat)
    SeatAllocation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    event = pick(trip, ben, seat)
    assert event.payload["holds"][0]["user_id"] == ben.pk
    live_rows = SeatAllocation.objects.filter(state=AllocationState.HELD)
    assert list(live_rows.values_list("user_id", "seat_id")) == [(ben.pk, seat.pk)]


def test_errors_on_a_settled_leg_write_nothing(settled):
    trip, (olivia, ana, _ben), early, late = settled
    second, first_class = seats(early)[0], seats(early, "first")[0]
    other_train = factories.vehicle()
    foreign = Seat.objects.filter(coach__vehicle=other_train, comfort_class="second").first()
    plan.fare_choose(trip_id=trip.pk, user=olivia, leg="outbound", fare_class_code="standard-2")
    before = rows(trip)
    with pytest.raises(errors.LegSettled):
        pick(trip, ana, second, departure_id=late.pk)
    with pytest.raises(errors.SeatNotOnThisTrain):
        pick(trip, ana, foreign)
    with pytest.raises(errors.WrongComfortClass):
        pick(trip, olivia, first_class)
    with pytest.raises(errors.LegNotFound):
        plan.seat_pick(trip_id=trip.pk, user=ana, leg="return", seat_id=second.pk)
    with pytest.raises(errors.TripNotFound):
        plan.seat_pick(trip_id=trip.pk + 1000, user=ana, leg="outbound", seat_id=second.pk)
    stranger = factories.user("Stranger")
    with pytest.raises(errors.TripNotFound):
        pick(trip, stranger, second)
    Membership.objects.filter(user=ana).update(status=Membership.Status.PENDING)
    with pytest.raises(NotMember):
        pick(trip, ana, second)
    assert rows(trip) == before
    Trip.objects.filter(pk=trip.pk).update(status=Trip.Status.CHECKOUT)
    with pytest.raises(errors.TripLocked):
        pick(trip, olivia, second)
    early.status = "cancelled"
    early.save(update_fields=["status"])
    Trip.objects.filter(pk=trip.pk).update(status=Trip.Status.PLANNING)
    with pytest.raises(errors.DepartureNotBookable):
        pick(trip, olivia, second)
    assert rows(trip)[1:] == before[1:]


def test_on_postgresql_a_pick_is_a_handful_of_statements(settled):
    """The hot path is taken: a move to another seat by a traveller with a fare is five
    statements (lock, read, release, hold, then the version and the event row written in
    one by ``plan.record`` as for every change), where the ORM path takes ten."""
    if connection.vendor != "postgresql":
        pytest.skip("the hand-written path is PostgreSQL's")
    trip, (_olivia, ana, _ben), early, _late = settled
    first, second = seats(early)[:2]
    pick(trip, ana, first)
    with CaptureQueriesContext(connection) as queries:
        pick(trip, ana, second)
    statements = [
        q["sql"]
        for q in queries
        if q["sql"] not in ("BEGIN", "COMMIT") and "SAVEPOINT" not in q["sql"]  # the test's
    ]
    assert len(statements) == 5, statements


# --- The default fare --------------------------------------------------------------------


def test_a_first_pick_gets_the_first_fare_of_its_class_offered_on_that_train(settled):
    trip, (_olivia, ana, _ben), early, _late = settled
    first_offered = (
        FareClass.objects.filter(comfort_class="second").order_by("sort_order", "code").first()
    )
    DepartureFare.objects.filter(departure=early, fare_class=first_offered).delete()
    pick(trip, ana, seats(early)[0])
    offered = DepartureFare.objects.filter(departure=early, fare_class__comfort_class="second")
    expected = offered.order_by("fare_class__sort_order", "fare_class__code").first().fare_class
    assert TravellerFare.objects.get(user=ana).fare_class == expected != first_offered


def test_a_first_pick_in_a_class_the_train_does_not_sell_is_fare_not_offered(settled):
    """The catalogue has fares of that class, this train none: no fare it cannot price."""
    trip, (_olivia, ana, _ben), early, _late = settled
    DepartureFare.objects.filter(departure=early, fare_class__comfort_class="first").delete()
    before = rows(trip)
    with pytest.raises(errors.FareNotOffered) as refused:
        pick(trip, ana, seats(early, "first")[0])
    assert refused.value.code == "fare_not_offered"
    assert rows(trip) == before


def test_a_first_pick_in_a_class_without_any_fare_is_fare_not_offered_not_a_server_error(settled):
    trip, (_olivia, ana, _ben), early, _late = settled
    DepartureFare.objects.filter(fare_class__comfort_class="first").delete()
    FareClass.objects.filter(comfort_class="first").delete()
    before = rows(trip)
    client = APIClient()
    client.force_login(ana)
    response = client.post(
        reverse("api-trip-plan-seat", args=[trip.pk]),
        {"leg": "outbound", "seat_id": seats(early, "first")[0].pk},
        format="json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "fare_not_offered")
    assert rows(trip) == before


# --- The cap on one person's holds on one train -----------------------------------------------


def same_train_trip(user, early, late):
    """Another trip of ``user``'s (who organises it) on the ``early`` train."""
    other = factories.trip(organiser=user, days_ahead=3)
    plan.poll_propose(trip_id=other.pk, by=user, leg="outbound", departure_ids=[early.pk, late.pk])
    plan.poll_settle(trip_id=other.pk, by=user, leg="outbound", departure_id=early.pk)
    return other


def test_one_person_holds_at_most_the_cap_of_one_train_over_all_their_trips(settled, settings):
    trip, (_olivia, ana, _ben), early, late = settled
    assert settings.SIDEBYSIDE["HOLDS_PER_PERSON_PER_DEPARTURE"] == 2
    second, third = same_train_trip(ana, early, late), same_train_trip(ana, early, late)
    free = seats(early)
    pick(trip, ana, free[0])
    pick(second, ana, free[1])
    before = rows(third)
    with pytest.raises(errors.TooManyHolds) as refused:
        pick(third, ana, free[2])
    assert refused.value.code == "too_many_holds"
    assert rows(third) == before
    # Moving within a trip that holds one is still a pick within the cap.
    event = pick(second, ana, free[3])
    assert event.payload["released"][0]["seat_id"] == free[1].pk
    # A hold whose time is up no longer counts; another train is another count.
    SeatAllocation.objects.filter(seat=free[0]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert pick(third, ana, free[2]).payload["holds"][0]["seat_id"] == free[2].pk
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "HOLDS_PER_PERSON_PER_DEPARTURE": 1}
    with pytest.raises(errors.TooManyHolds):
        pick(trip, ana, free[4])


def test_sit_together_holds_within_each_travellers_cap(settled, settings):
    trip, (olivia, ana, ben), early, late = settled
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "HOLDS_PER_PERSON_PER_DEPARTURE": 1}
    elsewhere = same_train_trip(ana, early, late)
    pick(elsewhere, ana, seats(early)[-1])
    before = rows(trip)
    with pytest.raises(errors.TooManyHolds) as refused:
        plan.sit_together(trip_id=trip.pk, user=olivia, leg="outbound")
    assert "Friend 1" in refused.value.message  # whose holds stand in the way
    assert rows(trip)[:2] == before[:2]
    assert not SeatAllocation.objects.filter(leg__trip=trip).exists()
    plan.seat_release(trip_id=elsewhere.pk, user=ana, leg="outbound")
    event = plan.sit_together(trip_id=trip.pk, user=olivia, leg="outbound")
    assert {h["user_id"] for h in event.payload["holds"]} == {olivia.pk, ana.pk, ben.pk}


def test_sit_together_in_a_class_the_train_does_not_sell_is_fare_not_offered(settled):
    trip, (olivia, _ana, _ben), early, _late = settled
    DepartureFare.objects.filter(departure=early, fare_class__comfort_class="second").delete()
    before = rows(trip)
    with pytest.raises(errors.FareNotOffered):
        plan.sit_together(trip_id=trip.pk, user=olivia, leg="outbound")
    assert rows(trip)[:2] == before[:2]
    assert not SeatAllocation.objects.filter(leg__trip=trip).exists()
