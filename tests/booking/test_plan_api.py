"""The live plan's REST door: the same services as the websocket, the same snapshot, the
same events and the same error codes. A change made through REST reaches the members'
sockets (one write path, two doors); a refused change writes nothing."""

import datetime as dt
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from booking import plan, pricing
from booking.models import (
    AllocationState,
    PollOption,
    PollVote,
    Seat,
    SeatAllocation,
    TravellerFare,
    Trip,
    TripEvent,
    TripLeg,
)
from booking.plan_selectors import plan_snapshot
from config.routing import websocket_urlpatterns
from groups import services
from tests import factories

pytestmark = pytest.mark.django_db

TIMEOUT = 3


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def url(trip, tail: str = "") -> str:
    return f"/api/trips/{trip.pk}/plan/{tail}"


def seats_of(departure, comfort="second"):
    return list(
        Seat.objects.filter(coach__vehicle=departure.vehicle, comfort_class=comfort).order_by(
            "coach__number", "number"
        )
    )


def written(trip) -> tuple:
    """Everything a plan change writes: a refused one leaves all of it as it was."""
    trip.refresh_from_db()
    return (
        trip.version,
        TripEvent.objects.filter(trip=trip).count(),
        list(SeatAllocation.objects.order_by("pk").values_list("state", "seat_id", "user_id")),
        list(TravellerFare.objects.order_by("pk").values_list("user_id", "fare_class__code")),
        list(PollVote.objects.order_by("pk").values_list("user_id", "option_id")),
        list(PollOption.objects.order_by("pk").values_list("departure_id", "position")),
        list(TripLeg.objects.order_by("pk").values_list("departure_id", flat=True)),
    )


def error_of(response) -> dict:
    return response.json()["error"]


@pytest.fixture
def planned():
    return factories.planned_trip(travellers=3)


# --- Reading the plan -----------------------------------------------------------------------


def test_a_member_gets_the_same_snapshot_as_the_websocket_sends(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    plan.seat_pick(
        trip_id=trip.pk,
        user=ana,
        leg="outbound",
        departure_id=early.pk,
        seat_id=seats_of(early)[0].pk,
    )

    response = client_for(ana).get(url(trip))

    assert response.status_code == 200
    body = response.json()
    assert body == json.loads(json.dumps(plan_snapshot(user=ana, trip_id=trip.pk)))
    assert body["version"] == trip.version + 1
    assert body["me"]["user_id"] == ana.pk
    assert body["legs"][0]["seats"][0]["user_id"] == ana.pk


def test_only_active_travellers_see_the_plan(planned):
    trip, (olivia, _ana, ben), _deps = planned
    services.group_update(group_id=trip.group_id, by=olivia, requires_approval=True)
    waiting = factories.member(trip, "Wanda Waiting")
    services.membership_leave(group_id=trip.group_id, user=ben)
    stranger = factories.user()

    assert client_for().get(url(trip)).status_code == 403
    assert error_of(client_for().get(url(trip)))["code"] == "not_authenticated"
    for person in (stranger, ben):  # ben left: as if the trip did not exist
        response = client_for(person).get(url(trip))
        assert response.status_code == 404
        assert error_of(response)["code"] == "trip_not_found"
    response = client_for(waiting).get(url(trip))
    assert response.status_code == 403
    assert error_of(response)["code"] == "not_member"
    missing = client_for(olivia).get("/api/trips/999999/plan/")
    assert missing.status_code == 404 and error_of(missing)["code"] == "trip_not_found"


def test_a_public_trips_plan_is_still_for_its_travellers_only():
    trip, _people, _deps = factories.planned_trip(travellers=2, privacy="public")

    response = client_for(factories.user()).get(url(trip))

    assert response.status_code == 404
    assert error_of(response)["code"] == "trip_not_found"


def test_catching_up_gives_the_missed_events_or_asks_for_a_resync(planned, settings):
    trip, (olivia, ana, _ben), (early, _late) = planned
    base = trip.version
    plan.poll_vote(trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk)
    plan.poll_vote(trip_id=trip.pk, user=olivia, leg="outbound", departure_id=early.pk)
    client = client_for(ana)

    caught_up = client.get(url(trip, f"events/?since={base}"))
    assert caught_up.status_code == 200
    body = caught_up.json()
    assert body["version"] == base + 2
    assert [(e["kind"], e["version"]) for e in body["events"]] == [
        ("vote_cast", base + 1),
        ("vote_cast", base + 2),
    ]
    assert body["events"][1]["payload"] == {
        "leg": "outbound",
        "user_id": olivia.pk,
        "departure_id": early.pk,
    }
    up_to_date = client.get(url(trip, f"events/?since={base + 2}")).json()
    assert up_to_date == {"version": base + 2, "events": []}

    for since in (base + 3, 0):  # ahead of the server; behind by more than the log keeps
        settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "EVENT_LOG_RESYNC_LIMIT": 2}
        response = client.get(url(trip, f"events/?since={since}"))
        assert response.status_code == 409
        assert error_of(response)["code"] == "resync_needed"

    for bad in ("", "?since=-1", "?since=x"):
        response = client.get(url(trip, f"events/{bad}"))
        assert response.status_code == 400
        assert "since" in error_of(response)["fields"]
    stranger = client_for(factories.user()).get(url(trip, f"events/?since={base}"))
    assert stranger.status_code == 404


# --- The poll -------------------------------------------------------------------------------


def test_the_organiser_proposes_and_settles_the_poll(planned):
    trip, (olivia, ana, _ben), (early, late) = planned
    later = factories.departure(
        origin=early.origin,
        destination=early.destination,
        vehicle_obj=early.vehicle,
        departs_at=early.departs_at + dt.timedelta(hours=6),
    )
    organiser = client_for(olivia)

    response = organiser.post(
        url(trip, "poll/"),
        {"leg": "outbound", "departure_ids": [late.pk, later.pk]},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["version"] == trip.version + 1
    assert body["event"]["kind"] == "poll_proposed"
    assert body["event"]["version"] == body["version"]
    assert body["event"]["actor"] == olivia.pk
    assert body["event"]["payload"]["departure_ids"] == [late.pk, later.pk]
    assert list(PollOption.objects.order_by("position").values_list("departure_id", flat=True)) == [
        late.pk,
        later.pk,
    ]

    seat = seats_of(later)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=later.pk, seat_id=seat.pk
    )
    settled = organiser.post(
        url(trip, "settle/"), {"leg": "outbound", "departure_id": late.pk}, format="json"
    )
    assert settled.status_code == 201
    assert settled.json()["event"]["kind"] == "poll_settled"
    assert settled.json()["event"]["payload"]["released"] == [
        {"departure_id": later.pk, "seat_id": seat.pk, "user_id": ana.pk}
    ]
    assert TripLeg.objects.get(trip=trip, direction="outbound").departure_id == late.pk
    assert SeatAllocation.objects.get(seat=seat).state == AllocationState.RELEASED

    again = organiser.post(
        url(trip, "settle/"), {"leg": "outbound", "departure_id": later.pk}, format="json"
    )
    assert again.status_code == 409
    assert error_of(again)["code"] == "leg_settled"


def test_poll_refusals_write_nothing(planned):
    trip, (olivia, ana, _ben), (early, late) = planned
    before = written(trip)
    cases = [
        (
            ana,
            "poll/",
            {"leg": "outbound", "departure_ids": [early.pk, late.pk]},
            403,
            "not_organiser",
        ),
        (ana, "settle/", {"leg": "outbound", "departure_id": early.pk}, 403, "not_organiser"),
        (olivia, "poll/", {"leg": "outbound", "departure_ids": [early.pk]}, 400, "poll_invalid"),
        (olivia, "poll/", {"leg": "outbound", "departure_ids": ["x"]}, 400, "invalid"),
        (
            olivia,
            "poll/",
            {"leg": "sideways", "departure_ids": [early.pk, late.pk]},
            400,
            "invalid",
        ),
        (
            olivia,
            "poll/",
            {"leg": "return", "departure_ids": [early.pk, late.pk]},
            404,
            "leg_not_found",
        ),
        (
            olivia,
            "settle/",
            {"leg": "outbound", "departure_id": 10**9},
            400,
            "departure_not_in_poll",
        ),
        (olivia, "settle/", {"leg": "outbound"}, 400, "invalid"),
    ]
    for person, tail, body, status, code in cases:
        response = client_for(person).post(url(trip, tail), body, format="json")
        assert (response.status_code, error_of(response)["code"]) == (status, code), (tail, body)
    assert written(trip) == before


def test_members_vote_and_take_their_vote_back(planned):
    trip, (_olivia, ana, _ben), (early, late) = planned
    client = client_for(ana)

    response = client.post(
        url(trip, "votes/"), {"leg": "outbound", "departure_id": late.pk}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["event"]["kind"] == "vote_cast"
    assert PollVote.objects.get(user=ana).option.departure_id == late.pk
    taken_back = client.post(
        url(trip, "votes/"), {"leg": "outbound", "departure_id": None}, format="json"
    )
    assert taken_back.status_code == 201
    assert taken_back.json()["event"]["payload"]["departure_id"] is None
    assert not PollVote.objects.exists()

    before = written(trip)
    other = factories.departure(origin=early.origin, destination=early.destination)
    for body, code in (
        ({"leg": "outbound", "departure_id": other.pk}, "departure_not_in_poll"),
        ({"leg": "outbound"}, "invalid"),  # null takes back; leaving it out is a mistake
        ({"leg": "outbound", "departure_id": 0}, "invalid"),
    ):
        response = client.post(url(trip, "votes/"), body, format="json")
        assert response.status_code == 400 and error_of(response)["code"] == code, body
    assert written(trip) == before


# --- Fares ----------------------------------------------------------------------------------


def _card_number(prefix: str) -> str:
    partial = prefix + "1234567"
    return partial + pricing.luhn_check_digit(partial)


def test_a_member_chooses_their_own_fare_and_card(planned):
    trip, (_olivia, ana, _ben), _deps = planned
    client = client_for(ana)

    response = client.put(
        url(trip, "fare/"),
        {
            "leg": "outbound",
            "fare_class": "flex-1",
            "passenger_type": "youth",
            "age": 20,
            "card": "youth-card",
            "card_number": _card_number("2901"),
        },
        format="json",
    )

    assert response.status_code == 200
    event = response.json()["event"]
    assert event["kind"] == "fare_chosen"
    # The event tells the others the class, never the fare, the card or the age.
    assert event["payload"] == {
        "leg": "outbound",
        "user_id": ana.pk,
        "comfort_class": "first",
        "released": [],
    }
    fare = TravellerFare.objects.get(user=ana)
    assert (fare.fare_class.code, fare.discount_card.code, fare.age) == ("flex-1", "youth-card", 20)
    mine = client.get(url(trip)).json()["legs"][0]["fares"][str(ana.pk)]
    assert mine["card_number_end"] == _card_number("2901")[-4:]


def test_fare_refusals_write_nothing(planned):
    trip, (_olivia, ana, _ben), _deps = planned
    before = written(trip)
    client = client_for(ana)
    for body, field_or_code in (
        ({"leg": "outbound", "fare_class": "sleeper"}, "fare_class"),
        ({"leg": "outbound", "fare_class": "standard-2", "age": 130}, "age"),
        ({"leg": "outbound", "fare_class": "standard-2", "card_number": "1" * 41}, "card_number"),
        (
            {"leg": "outbound", "fare_class": "standard-2", "passenger_type": "dragon"},
            "passenger_type",
        ),
        (
            {
                "leg": "outbound",
                "fare_class": "standard-2",
                "passenger_type": "youth",
                "age": 20,
                "card": "youth-card",
                "card_number": "290100000000",
            },
            "card_number_invalid",
        ),
        (
            {"leg": "outbound", "fare_class": "standard-2", "passenger_type": "senior", "age": 20},
            "not_eligible",
        ),
    ):
        response = client.put(url(trip, "fare/"), body, format="json")
        assert response.status_code == 400, body
        error = error_of(response)
        assert field_or_code in (error["code"], *error.get("fields", {})), (body, error)
    assert written(trip) == before


# --- Seats ----------------------------------------------------------------------------------


def test_a_member_holds_a_seat_moves_and_lets_it_go(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    first, second = seats_of(early)[:2]
    client = client_for(ana)

    held = client.post(
        url(trip, "seat/"),
        {"leg": "outbound", "departure_id": early.pk, "seat_id": first.pk},
        format="json",
    )
    assert held.status_code == 201
    assert held.json()["event"]["kind"] == "seat_held"
    assert held.json()["event"]["payload"]["holds"] == [
        {"user_id": ana.pk, "seat_id": first.pk, "label": f"2-{first.number}"}
    ]

    moved = client.post(
        url(trip, "seat/"),
        {"leg": "outbound", "departure_id": early.pk, "seat_id": second.pk},
        format="json",
    )
    assert moved.status_code == 201
    assert moved.json()["event"]["payload"]["released"] == [
        {"departure_id": early.pk, "seat_id": first.pk, "user_id": ana.pk}
    ]
    assert list(SeatAllocation.objects.filter(state="held").values_list("seat_id", flat=True)) == [
        second.pk
    ]

    released = client.delete(url(trip, "seat/?leg=outbound"))
    assert released.status_code == 200
    assert released.json()["event"]["kind"] == "seat_released"
    assert not SeatAllocation.objects.filter(state="held").exists()


def test_seat_refusals_write_nothing(planned):
    trip, (_olivia, ana, ben), (early, _late) = planned
    taken = seats_of(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=taken.pk
    )
    _other, _people, (elsewhere, _x) = factories.planned_trip(travellers=1)
    before = written(trip)
    client = client_for(ana)
    cases = [
        ({"departure_id": early.pk, "seat_id": taken.pk}, 409, "seat_taken"),
        (
            {"departure_id": elsewhere.pk, "seat_id": seats_of(elsewhere)[1].pk},
            400,
            "departure_not_in_poll",
        ),
        ({"departure_id": early.pk, "seat_id": "abc"}, 400, "invalid"),
        ({"departure_id": early.pk}, 400, "invalid"),
    ]
    for body, status, code in cases:
        response = client.post(url(trip, "seat/"), {"leg": "outbound", **body}, format="json")
        assert (response.status_code, error_of(response)["code"]) == (status, code), body
    assert written(trip) == before

    # With a second-class fare, a first-class seat is refused.
    plan.fare_choose(trip_id=trip.pk, user=ana, leg="outbound", fare_class_code="standard-2")
    before = written(trip)
    wrong_class = client.post(
        url(trip, "seat/"),
        {"leg": "outbound", "departure_id": early.pk, "seat_id": seats_of(early, "first")[0].pk},
        format="json",
    )
    assert wrong_class.status_code == 400
    assert error_of(wrong_class)["code"] == "wrong_comfort_class"
    no_leg = client.delete(url(trip, "seat/"))
    assert no_leg.status_code == 400 and "leg" in error_of(no_leg)["fields"]
    assert written(trip) == before


def test_sit_us_together_seats_everyone_in_one_event(planned):
    trip, (olivia, ana, ben), (early, _late) = planned
    client = client_for(ben)

    response = client.post(
        url(trip, "sit-together/"), {"leg": "outbound", "departure_id": early.pk}, format="json"
    )

    assert response.status_code == 201
    event = response.json()["event"]
    assert event["kind"] == "seated_together"
    assert {h["user_id"] for h in event["payload"]["holds"]} == {olivia.pk, ana.pk, ben.pk}
    assert SeatAllocation.objects.filter(state="held", departure=early).count() == 3
    before = written(trip)
    again = client.post(
        url(trip, "sit-together/"), {"leg": "outbound", "departure_id": early.pk}, format="json"
    )
    assert again.status_code == 409
    assert error_of(again)["code"] == "everyone_seated"
    assert written(trip) == before


def test_a_trip_no_longer_planned_refuses_every_change(planned):
    trip, (olivia, ana, _ben), (early, _late) = planned
    Trip.objects.filter(pk=trip.pk).update(status=Trip.Status.BOOKED)
    before = written(trip)

    for person, method, tail, body in (
        (ana, "post", "votes/", {"leg": "outbound", "departure_id": early.pk}),
        (olivia, "post", "settle/", {"leg": "outbound", "departure_id": early.pk}),
        (ana, "put", "fare/", {"leg": "outbound", "fare_class": "standard-2"}),
        (ana, "delete", "seat/?leg=outbound", None),
    ):
        response = getattr(client_for(person), method)(url(trip, tail), body, format="json")
        assert response.status_code == 409 and error_of(response)["code"] == "trip_locked", tail
    assert written(trip) == before


# --- One write path, two doors ---------------------------------------------------------------

router = URLRouter(websocket_urlpatterns)


def socket(user, trip_id):
    communicator = WebsocketCommunicator(router, f"/ws/trips/{trip_id}/")
    communicator.scope["user"] = user
    return communicator


async def receive(communicator, kind):
    """The next frame of ``kind``, skipping presence frames and others."""
    for _ in range(20):
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


@pytest.mark.django_db(transaction=True)
def test_a_pick_made_through_rest_reaches_a_members_socket():
    trip, (olivia, ana, _ben), (early, _late) = factories.planned_trip(travellers=3)
    seat = seats_of(early)[0]
    client = client_for(ana)

    async def scenario():
        watcher = socket(olivia, trip.pk)
        assert (await watcher.connect())[0]
        await receive(watcher, "snapshot")
        response = await sync_to_async(client.post)(
            url(trip, "seat/"),
            {"leg": "outbound", "departure_id": early.pk, "seat_id": seat.pk},
            format="json",
        )
        assert response.status_code == 201
        event = await receive(watcher, "event")
        await watcher.disconnect()
        return response.json(), event

    answer, event = async_to_sync(scenario)()

    # The socket gets exactly the event the REST answer carries.
    assert event == answer["event"]
    assert event["kind"] == "seat_held" and event["version"] == answer["version"]
    assert event["payload"]["holds"][0]["user_id"] == ana.pk


@pytest.mark.django_db(transaction=True)
def test_both_doors_refuse_a_taken_seat_with_the_same_code():
    trip, (_olivia, ana, ben), (early, _late) = factories.planned_trip(travellers=3)
    taken = seats_of(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=taken.pk
    )
    before = written(trip)
    command = {"leg": "outbound", "departure_id": early.pk, "seat_id": taken.pk}

    rest = client_for(ana).post(url(trip, "seat/"), command, format="json")

    async def through_the_socket():
        communicator = socket(ana, trip.pk)
        await communicator.connect()
        await receive(communicator, "snapshot")
        await communicator.send_json_to({"id": 1, "type": "pick_seat", **command})
        frame = await receive(communicator, "error")
        await communicator.disconnect()
        return frame

    frame = async_to_sync(through_the_socket)()

    assert rest.status_code == 409
    assert error_of(rest)["code"] == frame["code"] == "seat_taken"
    assert error_of(rest)["message"] == frame["message"]
    assert written(trip) == before
