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


# --- The trip page on a phone (issue 18) -------------------------------------------------------

EDIT_MARKERS = (
    "data-vote=",
    "data-settle=",
    "data-propose-form",
    "data-fare-form",
    "data-sit-together",
    "data-release-seat",
)


def _option(html: str, departure) -> str:
    return html.split(f'data-option="{departure.pk}"')[1].split("</li>")[0]


def test_each_option_shows_its_lowest_price_until_i_choose_my_fare(client, planned):
    trip, (_olivia, friend, _other), (first, second) = planned

    html = _page(client, friend, trip).content.decode()
    for departure in (first, second):  # the page is in French (the default language)
        assert re.search(r"dès 45,00\W+€", _option(html, departure))
        assert "Votre prix" not in _option(html, departure)

    plan.fare_choose(trip_id=trip.pk, user=friend, leg="outbound", fare_class_code="flex-2")
    html = _page(client, friend, trip).content.decode()
    for departure in (first, second):
        assert "Votre prix" in _option(html, departure)
        assert "65,00" in _option(html, departure) and "dès" not in _option(html, departure)


def test_the_seat_map_shows_one_coach_and_opens_on_the_groups(client, planned):
    trip, (olivia, friend, _other), (first, _second) = planned
    seat = _seat(first, number=3)  # coach 2, second class
    plan.seat_pick(
        trip_id=trip.pk, user=olivia, leg="outbound", seat_id=seat.pk, departure_id=first.pk
    )
    coach_of = dict(Seat.objects.values_list("pk", "coach__number"))

    for user in (olivia, friend):  # my seat's coach; the one the group sits in
        html = _page(client, user, trip).content.decode()
        shown = {coach_of[int(i)] for i in re.findall(r'data-seat-id="(\d+)"', html)}
        assert shown == {2}
        assert 'data-coach-link="2" aria-current="true"' in html
        assert 'data-coach-link="1" aria-current' not in html
        strip = html.split('data-coach-link="2"')[1].split("</a>")[0]
        assert "Olivia Organiser" in strip  # her initial on her coach, her name said

    html = _page(client, friend, trip, coach="1").content.decode()
    assert {coach_of[int(i)] for i in re.findall(r'data-seat-id="(\d+)"', html)} == {1}
    assert 'data-coach-link="1" aria-current="true"' in html


def test_while_paying_the_plan_is_read_only_and_the_share_comes_first(client):
    from payments import services

    trip, (olivia, friend), _departure = factories.checkout_ready_trip(travellers=2)
    html = _page(client, friend, trip).content.decode()
    assert all(marker in html for marker in ("data-fare-form", "data-sit-together"))

    services.checkout_start(trip_id=trip.pk, by=olivia)
    html = _page(client, friend, trip).content.decode()
    for marker in EDIT_MARKERS:
        assert marker not in html, marker
    assert 'data-trip-status="checkout"' in html and 'data-trip-state="checkout"' in html
    assert "data-plan-frozen" in html
    # My share and "Pay my share" before the poll, the ticket and the seats.
    assert html.index("data-pay-mine") < html.index("data-plan-poll")
    assert html.index("data-pay-mine") < html.index("data-plan-seats")
    assert "data-my-ticket" in html  # my ticket as a line, not a form


def test_a_refused_checkout_start_opens_its_dialog_with_the_error(client):
    trip, (olivia, _friend), _departure = factories.checkout_ready_trip(travellers=2)
    client.force_login(olivia)
    response = client.post(
        reverse("trip_checkout_start", args=[trip.pk]),
        {"deadline_hours": "soon", "policy": "go_ahead"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    dialog = html.split('<dialog class="sheet" id="checkout-dialog"')[1].split("</dialog>")[0]
    assert dialog.split(">")[0].endswith("open data-open-on-load")
    assert 'role="alert" id="checkout-error"' in dialog
    assert 'id="trip-error"' not in html  # not at the top of the page, far from the form


def test_the_trip_page_is_compressed_and_small(client, planned):
    import gzip

    trip, (olivia, *_others), _departures = planned
    client.force_login(olivia)
    response = client.get(reverse("trip", args=[trip.pk]), HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    html = gzip.decompress(response.content)
    assert len(html) <= 60_000
    assert b"data-trip-plan" in html
