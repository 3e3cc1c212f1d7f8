"""The live plan's three doors (REST, websocket, the no-JavaScript forms) run every change
through one command table (``booking.commands``): the same bad input gets the same refusal
code whichever door it came by, nothing is written, and one rate limit per person counts
the commands of every door."""

import html
import re
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from booking import plan
from booking.models import PollVote, SeatAllocation, TravellerFare
from tests import factories
from tests.booking.test_plan_api import TIMEOUT, seats_of, socket, written

pytestmark = pytest.mark.django_db(transaction=True)


# The REST route of each command: (method, path under /api/trips/<id>/plan/).
REST = {
    "propose": ("post", "poll/"),
    "vote": ("post", "votes/"),
    "settle": ("post", "settle/"),
    "choose_fare": ("put", "fare/"),
    "pick_seat": ("post", "seat/"),
    "release_seat": ("delete", "seat/"),
    "sit_together": ("post", "sit-together/"),
}
JSON_DOORS = ("rest", "ws")
ALL_DOORS = ("rest", "ws", "form")


# --- The doors, each answering (code, status or None, field names) --------------------------


def through_rest(user, trip, command: str, params: dict) -> dict:
    client = APIClient()
    client.force_login(user)
    method, tail = REST[command]
    url = f"/api/trips/{trip.pk}/plan/{tail}"
    if method == "delete":  # its parameters are in the query string
        response = client.delete(f"{url}?{urlencode(params)}")
    else:
        response = getattr(client, method)(url, params, format="json")
    error = response.json()["error"]
    return {
        "code": error["code"],
        "status": response.status_code,
        "message": error["message"],
        "fields": sorted(error.get("fields", {})),
        "retry_after": response.headers.get("Retry-After"),
    }


def _form_value(value):
    return [str(item) for item in value] if isinstance(value, list) else str(value)


def through_form(user, trip, command: str, params: dict) -> dict:
    client = Client()
    client.force_login(user)
    data = {"action": command, **{k: _form_value(v) for k, v in params.items()}}
    response = client.post(reverse("trip_plan_action", args=[trip.pk]), data)
    page = response.content.decode()
    code = re.search(r'id="trip-error" data-error-code="([a-z_]+)"', page)
    alert = re.search(r'id="trip-error"[^>]*>.*?<p>(.*?)</p>', page, re.S)
    return {
        "code": code.group(1) if code else None,
        "status": response.status_code,
        "message": html.unescape(alert.group(1)) if alert else None,
        "page": page,
    }


async def receive(communicator, kinds):
    """The next frame of one of ``kinds``, skipping presence frames and others."""
    for _ in range(20):
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        if frame["type"] in kinds:
            return frame
    raise AssertionError(f"no {kinds} frame")


def through_socket(user, trip, commands: list[tuple[str, dict]], *, reconnect_after=None):
    """Send each command on one socket (a new socket after ``reconnect_after`` of them);
    the answers (ack or error frames) in order."""

    async def scenario():
        answers = []
        communicator = None
        for n, (command, params) in enumerate(commands):
            if communicator is None or n == reconnect_after:
                if communicator is not None:
                    await communicator.disconnect()
                communicator = socket(user, trip.pk)
                assert (await communicator.connect())[0]
                await receive(communicator, {"snapshot"})
            await communicator.send_json_to({"id": n, "type": command, **params})
            answers.append(await receive(communicator, {"ack", "error"}))
        await communicator.disconnect()
        return answers

    return async_to_sync(scenario)()


# --- One refusal for one bad input, whatever the door ---------------------------------------


@pytest.fixture
def planned(settings, monkeypatch):
    # Many commands in a row here: the limits are other tests' business.
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_PLAN": "1000/h"}
    monkeypatch.setattr("booking.consumers.RATE_BURST", 1000)
    return factories.planned_trip(travellers=3)


def test_each_bad_input_gets_the_same_refusal_through_every_door(planned):
    trip, (_olivia, ana, ben), (early, late) = planned
    taken = seats_of(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=taken.pk
    )
    fare = {"leg": "outbound", "fare_class": "standard-2"}
    vote = {"leg": "outbound"}
    propose = {"leg": "outbound"}
    # (command, parameters, expected code, the field at fault, the doors that can send it)
    cases = [
        ("choose_fare", {**fare, "age": -1}, "invalid", "age", ALL_DOORS),
        ("choose_fare", {**fare, "age": 121}, "invalid", "age", ALL_DOORS),
        ("choose_fare", {**fare, "age": 131}, "invalid", "age", ALL_DOORS),
        ("choose_fare", {**fare, "age": "x"}, "invalid", "age", ALL_DOORS),
        ("choose_fare", {**fare, "age": True}, "invalid", "age", ALL_DOORS),
        ("choose_fare", {**fare, "fare_class": "f" * 41}, "invalid", "fare_class", ALL_DOORS),
        ("choose_fare", {**fare, "card_number": "9" * 41}, "invalid", "card_number", ALL_DOORS),
        ("choose_fare", {"leg": "outbound"}, "invalid", "fare_class", ALL_DOORS),
        ("vote", {"leg": "sideways", "departure_id": early.pk}, "invalid", "leg", ALL_DOORS),
        ("vote", {"departure_id": early.pk}, "invalid", "leg", ALL_DOORS),
        ("vote", {**vote, "departure_id": 0}, "invalid", "departure_id", ALL_DOORS),
        ("vote", {**vote, "departure_id": -3}, "invalid", "departure_id", ALL_DOORS),
        ("vote", {**vote, "departure_id": 2**70}, "invalid", "departure_id", ALL_DOORS),
        ("vote", {**vote, "departure_id": "abc"}, "invalid", "departure_id", ALL_DOORS),
        ("vote", {**vote, "departure_id": True}, "invalid", "departure_id", ALL_DOORS),
        ("settle", {**vote, "departure_id": 2**70}, "invalid", "departure_id", ALL_DOORS),
        ("sit_together", {**vote, "departure_id": "abc"}, "invalid", "departure_id", ALL_DOORS),
        ("pick_seat", {**vote, "departure_id": early.pk}, "invalid", "seat_id", ALL_DOORS),
        (
            "pick_seat",
            {**vote, "departure_id": early.pk, "seat_id": 2**70},
            "invalid",
            "seat_id",
            ALL_DOORS,
        ),
        ("release_seat", {"leg": "sideways"}, "invalid", "leg", ALL_DOORS),
        (
            "propose",
            {**propose, "departure_ids": [late.pk] * 11},
            "invalid",
            "departure_ids",
            ALL_DOORS,
        ),
        (
            "propose",
            {**propose, "departure_ids": [early.pk, "abc"]},
            "invalid",
            "departure_ids.1",
            ALL_DOORS,
        ),
        (
            "propose",
            {**propose, "departure_ids": [early.pk, 0]},
            "invalid",
            "departure_ids.1",
            ALL_DOORS,
        ),
        # A form field is always a list of strings: "not a list" is for the JSON doors.
        ("propose", {**propose, "departure_ids": early.pk}, "invalid", "departure_ids", JSON_DOORS),
        (
            "propose",
            {**propose, "departure_ids": {"a": 1}},
            "invalid",
            "departure_ids",
            JSON_DOORS,
        ),
        # Good input, refused by the service: the same domain code.
        ("settle", {**vote, "departure_id": late.pk}, "not_organiser", None, ALL_DOORS),
        (
            "pick_seat",
            {**vote, "departure_id": early.pk, "seat_id": taken.pk},
            "seat_taken",
            None,
            ALL_DOORS,
        ),
        ("choose_fare", {**fare, "fare_class": "no-such-fare"}, "invalid", None, ALL_DOORS),
    ]
    before = written(trip)

    frames = through_socket(ana, trip, [(command, params) for command, params, *_ in cases])
    for (command, params, code, field, doors), frame in zip(cases, frames, strict=True):
        label = (command, params)
        assert frame["type"] == "error" and frame["code"] == code, (label, frame)
        if field:
            assert field in frame["fields"], (label, frame)
        rest = through_rest(ana, trip, command, params)
        assert (rest["code"], rest["message"]) == (frame["code"], frame["message"]), label
        assert rest["fields"] == sorted(frame.get("fields", {})), label
        if "form" in doors:
            form = through_form(ana, trip, command, params)
            assert form["code"] == code and form["status"] == rest["status"], (label, form)
            assert form["message"] == frame["message"], label

    assert written(trip) == before


def test_an_unknown_command_is_refused_by_the_socket_and_the_form(planned):
    trip, (_olivia, ana, _ben), _deps = planned
    before = written(trip)

    [frame] = through_socket(ana, trip, [("teleport", {"leg": "outbound"})])
    form = through_form(ana, trip, "teleport", {"leg": "outbound"})
    no_action = through_form(ana, trip, "", {})

    assert frame["code"] == form["code"] == no_action["code"] == "unknown_command"
    assert form["status"] == 400 and form["message"] == frame["message"]
    assert written(trip) == before
    # (REST has no such route: an unknown path is a 404 there.)


def test_the_form_shows_a_field_refusal_next_to_the_field(planned):
    trip, (_olivia, ana, _ben), _deps = planned

    form = through_form(
        ana, trip, "fare", {"leg": "outbound", "fare_class": "standard-2", "age": 131}
    )

    assert form["status"] == 400 and form["code"] == "invalid"
    assert re.search(r'id="plan-age"[^>]*aria-invalid="true"', form["page"])
    assert 'id="plan-age-error"' in form["page"]
    assert not TravellerFare.objects.exists()


def test_the_forms_own_names_are_the_same_commands(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned

    client = Client()
    client.force_login(ana)
    url = reverse("trip_plan_action", args=[trip.pk])
    voted = client.post(url, {"action": "vote", "leg": "outbound", "departure_id": early.pk})
    assert voted.status_code == 302 and PollVote.objects.filter(user=ana).exists()
    # "unvote" takes the vote back whatever departure the form carries.
    client.post(url, {"action": "unvote", "leg": "outbound", "departure_id": early.pk})
    assert not PollVote.objects.filter(user=ana).exists()
    # An empty field is a field left out: the passenger type's default, no age.
    client.post(
        url,
        {"action": "fare", "leg": "outbound", "fare_class": "standard-2", "passenger_type": ""},
    )
    fare = TravellerFare.objects.get(user=ana)
    assert (fare.passenger_type.code, fare.age) == ("adult", None)
    # Picking one seat works here too (the same command as the map's script sends).
    seat = seats_of(early)[3]
    client.post(
        url,
        {"action": "pick_seat", "leg": "outbound", "departure_id": early.pk, "seat_id": seat.pk},
    )
    assert SeatAllocation.objects.get(user=ana, state="held").seat == seat


# --- One rate limit per person, whatever the door --------------------------------------------


def _limit(settings, rate: str) -> None:
    # Per hour: a test never straddles the counter's window.
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_PLAN": rate}


def test_a_rest_flood_is_refused_with_retry_after(settings):
    _limit(settings, "5/h")
    trip, (_olivia, ana), (early, late) = factories.planned_trip(travellers=2)
    client = APIClient()
    client.force_login(ana)
    url = f"/api/trips/{trip.pk}/plan/votes/"
    for n in range(5):
        departure = early if n % 2 else late
        body = {"leg": "outbound", "departure_id": departure.pk}
        assert client.post(url, body, format="json").status_code == 201
    before = written(trip)

    refused = through_rest(ana, trip, "vote", {"leg": "outbound", "departure_id": early.pk})

    assert (refused["status"], refused["code"]) == (429, "rate_limited")
    assert 0 < int(refused["retry_after"]) <= 3600
    assert written(trip) == before


def test_reconnecting_the_socket_does_not_reset_the_limit(settings):
    _limit(settings, "3/h")
    trip, (_olivia, ana), (early, late) = factories.planned_trip(travellers=2)
    votes = [
        ("vote", {"leg": "outbound", "departure_id": (early if n % 2 else late).pk})
        for n in range(5)
    ]

    frames = through_socket(ana, trip, votes, reconnect_after=3)

    assert [f["type"] for f in frames[:3]] == ["ack"] * 3
    assert [f.get("code") for f in frames[3:]] == ["rate_limited"] * 2


def test_the_limit_is_shared_by_rest_the_socket_and_the_form(settings):
    _limit(settings, "4/h")
    trip, (olivia, ana), (early, late) = factories.planned_trip(travellers=2)
    vote = {"leg": "outbound", "departure_id": early.pk}
    client = APIClient()
    client.force_login(ana)
    url = f"/api/trips/{trip.pk}/plan/votes/"
    assert client.post(url, vote, format="json").status_code == 201
    assert client.post(url, {**vote, "departure_id": late.pk}, format="json").status_code == 201

    frames = through_socket(ana, trip, [("vote", vote), ("vote", vote), ("vote", vote)])

    assert [f["type"] for f in frames] == ["ack", "ack", "error"]
    assert frames[2]["code"] == "rate_limited"
    assert through_rest(ana, trip, "vote", vote)["status"] == 429
    form = through_form(ana, trip, "vote", vote)
    assert (form["status"], form["code"]) == (429, "rate_limited")
    # Per person: someone else of the trip is not limited by it.
    assert client_for(olivia).post(url, vote, format="json").status_code == 201


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client
