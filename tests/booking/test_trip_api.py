"""The trip API through its public door: planning a trip, my trips, and a trip as each
person may see it (travellers in full, a public trip's visitors a summary without names,
everyone else "not found", as if it did not exist)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from booking.models import Trip
from groups import services
from groups.models import FriendGroup, Membership
from tests import factories

pytestmark = pytest.mark.django_db


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def _day(days: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def stations():
    return factories.station("FRPLY", city="Paris"), factories.station("FRLPD", city="Lyon")


@pytest.fixture
def organiser():
    return factories.user("Olivia Organiser", email="olivia@example.test")


@pytest.fixture
def trip(organiser):
    return factories.trip(organiser=organiser, title="Lyon weekend")


def _detail(client, trip):
    return client.get(f"/api/trips/{trip.pk}/")


# --- Planning a trip -----------------------------------------------------------------------


def test_planning_a_trip_makes_me_its_organiser(stations, organiser):
    response = client_for(organiser).post(
        "/api/trips/",
        {
            "origin": "frply",
            "destination": "FRLPD",
            "outbound_from": _day(5),
            "outbound_to": _day(6),
            "return_from": _day(8),
            "title": "Weekend",
            "privacy": "link",
            "requires_approval": True,
            "max_members": 4,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["view"] == "member"
    assert body["trip"]["title"] == "Weekend"
    assert (body["trip"]["origin"]["code"], body["trip"]["destination"]["code"]) == (
        "FRPLY",
        "FRLPD",
    )
    assert (body["trip"]["return_from"], body["trip"]["return_to"]) == (_day(8), _day(8))
    assert body["group"]["privacy"] == "link"
    assert body["group"]["requires_approval"] is True
    assert (body["max_members"], body["member_count"], body["spots_left"]) == (4, 1, 3)
    assert body["me"]["role"] == "organiser"
    assert [(m["name"], m["role"], m["is_you"]) for m in body["members"]] == [
        ("Olivia Organiser", "organiser", True)
    ]
    assert Trip.objects.get(pk=body["trip"]["id"]).group_id == body["trip"]["group_id"]


def test_planning_a_trip_to_an_event_takes_its_station(stations, organiser):
    event = factories.event(station_obj=stations[1], days_ahead=20)

    response = client_for(organiser).post(
        "/api/trips/",
        {"origin": "FRPLY", "event": event.slug, "outbound_from": _day(19)},
        format="json",
    )

    assert response.status_code == 201, response.json()
    trip = response.json()["trip"]
    assert trip["event"]["slug"] == event.slug
    assert trip["destination"]["code"] == "FRLPD"
    assert trip["title"] == event.name


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"origin": "FRZZZ", "destination": "FRLPD"}, 400, "unknown_station", "origin"),
        ({"origin": "FRPLY", "destination": "FRPLY"}, 400, "same_stations", "destination"),
        ({"origin": "FRPLY"}, 400, "invalid", "destination"),
        ({"origin": "FRPLY", "event": "no-such-event"}, 404, "event_not_found", "event"),
        (
            {"origin": "FRPLY", "destination": "FRLPD", "outbound_from": _day(-1)},
            400,
            "date_out_of_range",
            "outbound_from",
        ),
        ({"origin": "Lyon", "destination": "FRLPD"}, 400, "invalid", "origin"),
        ({"origin": "FRPLY", "destination": "FRLPD", "max_members": 1}, 400, "invalid", None),
    ],
)
def test_bad_trip_input_is_refused_and_nothing_written(
    stations, organiser, body, status, code, field
):
    response = client_for(organiser).post(
        "/api/trips/", {"outbound_from": _day(3), **body}, format="json"
    )

    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["fields"]
    assert not Trip.objects.exists()
    assert not FriendGroup.objects.exists()


def test_planning_trips_is_rate_limited_per_person(stations, organiser, settings):
    """One account made trip after trip to hold a train's seats: a few trips an hour."""
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "RATE_TRIP_CREATE": "2/m"}
    body = {"origin": "FRPLY", "destination": "FRLPD", "outbound_from": _day(9)}
    client = client_for(organiser)

    made = [client.post("/api/trips/", body, format="json").status_code for _ in range(2)]
    limited = client.post("/api/trips/", body, format="json")

    assert made == [201, 201]
    assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")
    assert Trip.objects.count() == 2
    # Another person has their own count.
    other = client_for(factories.user()).post("/api/trips/", body, format="json")
    assert other.status_code == 201


def test_a_second_trip_for_the_same_friends_needs_the_organiser(trip, organiser):
    friend = factories.member(trip)
    body = {"origin": "FRLPD", "destination": "FRPLY", "outbound_from": _day(9)}

    mine = client_for(organiser).post(
        "/api/trips/", {**body, "group_id": trip.group_id}, format="json"
    )
    theirs = client_for(friend).post(
        "/api/trips/", {**body, "group_id": trip.group_id}, format="json"
    )
    strangers = client_for(factories.user()).post(
        "/api/trips/", {**body, "group_id": trip.group_id}, format="json"
    )

    assert mine.status_code == 201
    assert mine.json()["trip"]["group_id"] == trip.group_id
    assert [m["name"] for m in mine.json()["members"]] == [
        "Olivia Organiser",
        friend.profile.display_name,
    ]
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (403, "not_organiser")
    assert (strangers.status_code, strangers.json()["error"]["code"]) == (404, "group_not_found")
    assert Trip.objects.filter(group=trip.group).count() == 2


# --- My trips ------------------------------------------------------------------------------


def test_my_trips_list_my_role_and_status(trip, organiser):
    other = factories.trip(organiser=factories.user(), requires_approval=True, days_ahead=3)
    someone_elses = factories.trip(organiser=factories.user())
    friend = factories.member(trip)
    _invitation, token = services.invitation_create(group_id=other.group_id, by=other.created_by)
    services.invitation_accept(token=token, user=friend)

    response = client_for(friend).get("/api/trips/")

    assert response.status_code == 200
    rows = [(r["trip"]["id"], r["me"]["role"], r["me"]["status"]) for r in response.json()]
    assert rows == [(other.pk, "member", "pending"), (trip.pk, "member", "active")]
    assert someone_elses.pk not in {r["trip"]["id"] for r in response.json()}
    assert response.json()[1]["member_count"] == 2
    assert "members" not in response.json()[1]


# --- A trip as each person sees it -------------------------------------------------------


def test_a_member_sees_the_others_without_their_email(trip, organiser):
    friend = factories.member(trip, "Fred Friend", email="fred@example.test")
    services.membership_share_details(group_id=trip.group_id, user=organiser, shares=True)

    response = _detail(client_for(friend), trip)

    assert response.status_code == 200
    body = response.json()
    assert body["view"] == "member"
    assert [
        (m["name"], m["role"], m["status"], m["is_you"], m["details_visible"])
        for m in body["members"]
    ] == [
        ("Olivia Organiser", "organiser", "active", False, True),
        ("Fred Friend", "member", "active", True, True),
    ]
    assert set(body["members"][0]) == {
        "user_id",
        "name",
        "avatar_url",
        "role",
        "status",
        "joined_at",
        "is_you",
        "details_visible",
    }
    assert "@example.test" not in str(body)
    assert body["me"]["role"] == "member"
    assert body["group"]["id"] == trip.group_id


def test_details_stay_hidden_unless_shared(trip, organiser):
    friend = factories.member(trip)

    members = _detail(client_for(organiser), trip).json()["members"]

    assert {m["user_id"]: m["details_visible"] for m in members} == {
        organiser.pk: True,
        friend.pk: False,
    }


def test_only_the_organiser_sees_who_is_waiting(trip, organiser):
    friend = factories.member(trip)
    services.group_update(group_id=trip.group_id, by=organiser, requires_approval=True)
    waiting = factories.member(trip, "Wanda Waiting")

    organisers = _detail(client_for(organiser), trip).json()
    friends = _detail(client_for(friend), trip).json()
    theirs = _detail(client_for(waiting), trip).json()

    assert "Wanda Waiting" in [m["name"] for m in organisers["members"]]
    assert organisers["member_count"] == 2
    assert "Wanda Waiting" not in str(friends)
    assert theirs["view"] == "summary"
    assert theirs["me"]["status"] == "pending"
    assert "members" not in theirs
    assert "Olivia" not in str(theirs)


@pytest.mark.parametrize("privacy", ["private", "link"])
def test_a_stranger_gets_the_same_404_as_for_a_trip_that_does_not_exist(organiser, privacy):
    trip = factories.trip(organiser=organiser, privacy=privacy)
    stranger = client_for(factories.user())

    hidden = _detail(stranger, trip)
    missing = stranger.get(f"/api/trips/{trip.pk + 1000}/")
    anonymous = _detail(client_for(), trip)

    assert hidden.status_code == missing.status_code == anonymous.status_code == 404
    assert hidden.json() == missing.json() == anonymous.json()
    assert hidden.json()["error"]["code"] == "trip_not_found"


def test_a_public_trip_shows_strangers_a_summary_without_names(organiser):
    trip = factories.trip(organiser=organiser, privacy="public", title="Open trip")
    factories.member(trip, "Fred Friend")

    for client in (client_for(factories.user()), client_for()):
        response = _detail(client, trip)
        assert response.status_code == 200
        body = response.json()
        assert body["view"] == "summary"
        assert body["trip"]["title"] == "Open trip"
        assert (body["member_count"], body["spots_left"]) == (2, 7)
        assert body["joinable"] is True
        assert body["me"] is None
        assert "members" not in body
        assert "group" not in body
        assert "Fred" not in str(body)
        assert "Olivia" not in str(body)


def test_a_full_public_trip_is_not_joinable(organiser):
    trip = factories.trip(organiser=organiser, privacy="public", max_members=2)
    factories.member(trip)

    body = _detail(client_for(factories.user()), trip).json()

    assert (body["spots_left"], body["joinable"]) == (0, False)


def test_the_members_list_costs_the_same_queries_whatever_the_group_size(organiser):
    small = factories.trip(organiser=organiser, max_members=10)
    large = factories.trip(organiser=organiser, max_members=10)
    factories.member(small)
    for _ in range(7):
        factories.member(large)
    client = client_for(organiser)
    _detail(client, small)  # the session is loaded once per request either way

    counts = []
    for trip, size in ((small, 2), (large, 8)):
        with CaptureQueriesContext(connection) as queries:
            response = _detail(client, trip)
        assert len(response.json()["members"]) == size
        counts.append(len(queries))

    assert counts[0] == counts[1], counts


def test_my_trips_cost_the_same_queries_whatever_their_number(organiser):
    client = client_for(organiser)
    factories.trip(organiser=organiser)
    with CaptureQueriesContext(connection) as one:
        client.get("/api/trips/")
    for _ in range(4):
        factories.member(factories.trip(organiser=organiser))
    with CaptureQueriesContext(connection) as five:
        assert len(client.get("/api/trips/").json()) == 5

    assert len(one) == len(five)


def test_a_membership_that_left_is_no_longer_a_traveller(trip, organiser):
    friend = factories.member(trip)
    services.membership_leave(group_id=trip.group_id, user=friend)

    assert _detail(client_for(friend), trip).status_code == 404
    assert Membership.objects.get(group=trip.group, user=friend).status == "left"
