"""Held seats over days (issue 22, point 5): the trip page says how long the group's seats
are held and what happens then; when the group's holds lapse with nobody on the page, each
member is told once (outbox kind ``booking.holds_lapsed``, and the ``holds_expired`` event
says ``lapsed`` for an open page); one tap, "Sit us together again", seats them again."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from booking import plan
from booking.models import Seat, SeatAllocation, TripEvent
from groups.models import Membership
from notices import kinds
from notices.models import Message
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def settled():
    """Three friends on a trip whose outbound train is chosen, two of them seated."""
    trip, people, (early, _late) = factories.planned_trip(travellers=3, options=2)
    olivia, ana, _ben = people
    plan.poll_settle(trip_id=trip.pk, by=olivia, leg="outbound", departure_id=early.pk)
    seats = list(
        Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").order_by(
            "coach__number", "number"
        )
    )
    for user, seat in ((olivia, seats[0]), (ana, seats[1])):
        plan.seat_pick(
            trip_id=trip.pk, user=user, leg="outbound", departure_id=early.pk, seat_id=seat.pk
        )
    return trip, people, early


def _lapse(minutes_ago: int = 1, **filters) -> None:
    SeatAllocation.objects.filter(state="held", **filters).update(
        expires_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )


def _page(user, trip, language="en") -> str:
    client = Client()
    client.cookies["django_language"] = language
    client.force_login(user)
    response = client.get(reverse("trip", args=[trip.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_lapse_tells_each_member_once(settled):
    trip, (olivia, ana, ben), _early = settled
    Message.objects.all().delete()  # the train chosen
    _lapse()

    assert plan.holds_expire() == 2
    assert plan.holds_expire() == 0
    event = TripEvent.objects.filter(trip=trip, kind="holds_expired").get()
    assert event.payload["lapsed"] is True
    sent = Message.objects.filter(kind="booking.holds_lapsed", channel="email")
    assert sorted(sent.values_list("recipient_id", flat=True)) == sorted(
        [olivia.pk, ana.pk, ben.pk]
    )
    assert set(sent.values_list("object_id", flat=True)) == {event.pk}
    assert set(sent.values_list("trip_id", flat=True)) == {trip.pk}


def test_no_message_while_some_of_the_group_still_hold_seats(settled):
    trip, (olivia, _ana, _ben), _early = settled
    _lapse(user=olivia)

    assert plan.holds_expire() == 1
    event = TripEvent.objects.get(trip=trip, kind="holds_expired")
    assert event.payload["lapsed"] is False
    assert not Message.objects.filter(kind="booking.holds_lapsed").exists()


def test_only_a_leg_that_had_seats_lapsed(settled):
    from booking.models import TripLeg
    from booking.plan_selectors import holds_state

    trip, _people, _early = settled
    TripLeg.objects.create(trip=trip, direction="return")
    assert holds_state(trip_id=trip.pk, leg="outbound")["lapsed"] is False
    _lapse()
    plan.holds_expire()
    assert holds_state(trip_id=trip.pk, leg="outbound")["lapsed"] is True
    assert holds_state(trip_id=trip.pk, leg="return")["lapsed"] is False


def test_each_lapse_is_its_own_message_and_a_left_member_is_not_told(settled):
    trip, (olivia, ana, ben), early = settled
    _lapse()
    plan.holds_expire()
    Membership.objects.filter(user=ben, group=trip.group).update(status="left")
    plan.sit_together(trip_id=trip.pk, user=olivia, leg="outbound", departure_id=early.pk)
    _lapse()
    plan.holds_expire()

    lapses = TripEvent.objects.filter(trip=trip, kind="holds_expired").order_by("version")
    assert lapses.count() == 2
    second = Message.objects.filter(
        kind="booking.holds_lapsed", object_id=lapses[1].pk, channel="email"
    )
    assert sorted(second.values_list("recipient_id", flat=True)) == sorted([olivia.pk, ana.pk])


def test_the_email_in_french_and_english_and_dropped_once_seated_again(settled):
    trip, (olivia, _ana, _ben), early = settled
    _lapse()
    plan.holds_expire()
    message = Message.objects.filter(
        kind="booking.holds_lapsed", recipient=olivia, channel="email"
    ).get()
    render = kinds.kind_get("booking.holds_lapsed").render
    with translation.override("en"):
        email = render(message)
    assert trip.title in email.subject and "released" in email.subject
    assert "15 minutes" in email.text and "Sit us together again" in email.text
    assert f"/trips/{trip.pk}/" in email.text
    with translation.override("fr"):
        email = render(message)
    assert "libérées" in email.subject
    assert "15 minutes" in email.text and "Placez-nous ensemble à nouveau" in email.text

    plan.sit_together(trip_id=trip.pk, user=olivia, leg="outbound", departure_id=early.pk)
    with translation.override("en"):
        assert render(message) is None  # seated again before it went: nothing to tell


def test_the_page_says_how_long_the_seats_are_held(settled):
    trip, (_olivia, ana, _ben), _early = settled
    until = timezone.now() + dt.timedelta(hours=2)
    SeatAllocation.objects.filter(state="held").update(expires_at=until)

    html = _page(ana, trip)
    assert (
        "Seats are held while someone of the group is on this page, and for 15 minutes after."
        in html
    )
    local = timezone.localtime(until)
    assert f"held until {local:%a} {local.day} {local:%b}, {local:%H:%M}" in html
    assert "data-holds-lapsed hidden" in html

    html = _page(ana, trip, "fr")
    assert "Les places sont gardées tant que quelqu’un du groupe est sur cette page" in html
    assert f"{local:%H:%M}" in html


def test_after_a_lapse_the_page_offers_one_tap_that_seats_everyone_again(settled):
    trip, (_olivia, ana, _ben), early = settled
    _lapse()
    plan.holds_expire()

    html = _page(ana, trip)
    assert "Your seats were released." in html
    assert "data-holds-lapsed hidden" not in html
    assert "Sit us together again" in html
    assert "data-sit-usual hidden" in html  # one button on screen, the one that says "again"
    assert "Placez-nous ensemble à nouveau" in _page(ana, trip, "fr")

    client = Client()
    client.force_login(ana)
    response = client.post(
        reverse("trip_plan_action", args=[trip.pk]),
        {"action": "sit_together", "leg": "outbound", "departure_id": early.pk},
    )
    assert response.status_code == 302
    assert SeatAllocation.objects.filter(state="held", departure=early).count() == 3
    html = _page(ana, trip)
    assert "data-holds-lapsed hidden" in html
