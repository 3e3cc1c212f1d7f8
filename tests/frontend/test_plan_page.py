"""The live plan on the trip page, as the server renders it (plan.js then keeps it live):
the poll with my own prices, my ticket, the seat map with friends' seats, who is here; the
snapshot embedded for plan.js; nothing of it for a stranger or someone still waiting."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from booking import plan
from booking.demo import card_sample_number
from booking.models import Seat
from groups.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db


def _page(client, user, trip, **query):
    client.force_login(user)
    return client.get(reverse("trip", args=[trip.pk]), query)


def _snapshot(html: str) -> dict:
    pattern = r'<script id="plan-snapshot" type="application/json">(.*?)</script>'
    match = re.search(pattern, html, re.S)
    assert match, "the snapshot is not embedded"
    return json.loads(match.group(1))


def _seat(departure, comfort="second", number=1):
    return Seat.objects.get(coach__vehicle=departure.vehicle, comfort_class=comfort, number=number)


@pytest.fixture
def planned():
    trip, people, departures = factories.planned_trip(travellers=3, options=2)
    return trip, people, departures


def test_member_sees_options_with_own_price_votes_and_seat_map(client, planned):
    trip, (olivia, friend, _other), (first, second) = planned
    plan.fare_choose(trip_id=trip.pk, user=friend, leg="outbound", fare_class_code="standard-2")
    plan.poll_vote(trip_id=trip.pk, user=olivia, leg="outbound", departure_id=second.pk)
    seat = _seat(first, number=3)
    plan.seat_pick(
        trip_id=trip.pk, user=olivia, leg="outbound", seat_id=seat.pk, departure_id=first.pk
    )

    response = _page(client, friend, trip)
    html = response.content.decode()

    assert response.status_code == 200
    for departure in (first, second):
        assert f'data-option="{departure.pk}"' in html
        assert departure.service_number in html
    # My price (standard second class, adult, no card: 45,00 € / €45.00) on each option.
    assert html.count("data-option-price>") == 2
    assert "45.00" in html or "45,00" in html
    # Olivia's vote on the second option, with her avatar.
    option = html.split(f'data-option="{second.pk}"')[1].split("</li>\n")[0]
    assert f'data-voter="{olivia.pk}"' in html.split(f'data-option="{second.pk}"')[1]
    assert "data-option-count>1" in option
    # The seat map of the first option, Olivia's seat held with her initial.
    assert f'data-departure-id="{first.pk}"' in html
    cell = re.search(rf'<div role="gridcell"[^>]*data-seat-id="{seat.pk}"[^>]*>', html).group(0)
    assert f'data-holder="{olivia.pk}"' in cell
    assert "seat--friend" in cell and "seat--mine" not in cell
    assert 'role="grid"' in html
    # The friend is not the organiser: no proposing nor settling.
    assert "data-settle=" not in html and "data-propose-form" not in html


def test_my_seat_is_highlighted_and_show_picks_another_option(client, planned):
    trip, (_olivia, friend, _other), (_first, second) = planned
    seat = _seat(second, number=2)
    plan.seat_pick(
        trip_id=trip.pk, user=friend, leg="outbound", seat_id=seat.pk, departure_id=second.pk
    )

    html = _page(client, friend, trip, show=second.pk).content.decode()

    assert f'data-departure-id="{second.pk}"' in html
    cell = re.search(rf'<div role="gridcell"[^>]*data-seat-id="{seat.pk}"[^>]*>', html).group(0)
    assert "seat--mine" in cell and 'aria-selected="true"' in cell


def test_organiser_can_propose_and_settle(client, planned):
    trip, (olivia, *_rest), (first, second) = planned

    html = _page(client, olivia, trip).content.decode()

    assert f'data-settle="{first.pk}"' in html and f'data-settle="{second.pk}"' in html
    assert "data-propose-form" in html
    # The proposal list offers the trains of the leg's day, those in the poll ticked.
    assert re.search(rf'value="{first.pk}" checked', html)


def test_snapshot_in_page_hides_other_members_card_and_price(client, planned):
    trip, (_olivia, friend, other), _departures = planned
    cards = factories.discount_cards()
    number = card_sample_number(cards["youth-card"])
    plan.fare_choose(
        trip_id=trip.pk,
        user=other,
        leg="outbound",
        fare_class_code="standard-2",
        passenger_type_code="youth",
        age=20,
        card_code="youth-card",
        card_number=number,
    )
    plan.fare_choose(trip_id=trip.pk, user=friend, leg="outbound", fare_class_code="flex-2")

    html = _page(client, friend, trip).content.decode()
    snapshot = _snapshot(html)

    leg = snapshot["legs"][0]
    assert set(leg["fares"]) == {str(friend.pk)}
    for option in leg["options"]:
        assert set(option["prices"]) == {str(friend.pk)}
    assert "youth-card" not in json.dumps(snapshot)
    assert number[-4:] not in html
    assert snapshot["me"]["user_id"] == friend.pk
    assert snapshot["version"] == trip.__class__.objects.get(pk=trip.pk).version


def test_snapshot_shows_a_member_who_shares_their_details(client, planned):
    trip, (_olivia, friend, other), _departures = planned
    Membership.objects.filter(group=trip.group, user=other).update(shares_details=True)
    plan.fare_choose(trip_id=trip.pk, user=other, leg="outbound", fare_class_code="standard-1")

    snapshot = _snapshot(_page(client, friend, trip).content.decode())

    assert snapshot["legs"][0]["fares"][str(other.pk)]["fare_class"] == "standard-1"


def test_stranger_gets_404_and_no_plan(client, planned):
    trip, _people, _departures = planned
    stranger = factories.user("Stranger")

    response = _page(client, stranger, trip)

    assert response.status_code == 404
    assert "plan-snapshot" not in response.content.decode()


def test_pending_member_sees_no_plan(client):
    organiser = factories.user("Olivia Organiser")
    trip = factories.trip(organiser=organiser, privacy="public")
    trip.group.requires_approval = True
    trip.group.save()
    waiting = factories.user("Wendy Waiting")
    from groups.services import group_join_public

    membership = group_join_public(group_id=trip.group_id, user=waiting)
    assert membership.status == "pending"

    response = _page(client, waiting, trip)

    html = response.content.decode()
    assert response.status_code == 200
    assert "plan-snapshot" not in html and "data-trip-plan" not in html


def test_trip_without_options_tells_the_organiser_to_propose(client):
    trip, (olivia, friend), _departures = factories.planned_trip(travellers=2, options=1)

    organiser_html = _page(client, olivia, trip).content.decode()
    friend_html = _page(client, friend, trip).content.decode()

    assert "data-propose-form" in organiser_html
    assert "data-poll" not in friend_html and "data-plan-seatmap" not in friend_html


# --- Without JavaScript: the same actions as forms ---------------------------------------


def _post(client, trip, **data):
    return client.post(reverse("trip_plan_action", args=[trip.pk]), data)


def test_the_plan_works_without_javascript_through_forms():
    from booking.models import PollVote, SeatAllocation, TravellerFare

    trip, (olivia, ana, _ben), (_early, late) = factories.planned_trip(travellers=3)
    client = Client()
    client.force_login(ana)
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    assert f'action="{reverse("trip_plan_action", args=[trip.pk])}"' in page
    assert 'name="csrfmiddlewaretoken"' in page

    response = _post(client, trip, action="vote", leg="outbound", departure_id=late.pk)
    assert response.status_code == 302 and response["Location"].endswith("?leg=outbound#plan")
    assert PollVote.objects.get(user=ana).option.departure == late
    _post(client, trip, action="fare", leg="outbound", fare_class="flex-2", age="30")
    assert TravellerFare.objects.get(user=ana).fare_class.code == "flex-2"
    # A member may not settle: the page says so, with the service's status.
    refused = _post(client, trip, action="settle", leg="outbound", departure_id=late.pk)
    assert refused.status_code == 403
    organiser = Client()
    organiser.force_login(olivia)
    _post(organiser, trip, action="settle", leg="outbound", departure_id=late.pk)
    _post(client, trip, action="sit_together", leg="outbound", departure_id=late.pk)
    assert SeatAllocation.objects.filter(state="held", departure=late).count() == 3
    _post(client, trip, action="release_seat", leg="outbound")
    assert SeatAllocation.objects.filter(state="held").count() == 2
    assert _post(client, trip, action="teleport").status_code == 400


def test_plan_forms_refuse_strangers_and_need_a_login():
    trip, _people, (early, _late) = factories.planned_trip(travellers=2)
    stranger = Client()
    stranger.force_login(factories.user())
    assert _post(stranger, trip, action="vote", departure_id=early.pk).status_code == 404
    anonymous = _post(Client(), trip, action="vote", departure_id=early.pk)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
