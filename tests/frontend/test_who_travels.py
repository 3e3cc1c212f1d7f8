"""Who travels (issue 23): every page a member sees (the trip page, their pay page, "My
trips") says the same thing, read from one selector (``payments.selectors.
travel_standings``): "booked" only with a valid ticket of their own."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from payments import deadlines, selectors, services
from payments.models import Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = pytest.mark.django_db

BOOKED_WORDS = "You are booked"
NOT_TRAVELLING = "You are not travelling"


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def pay(sandbox, checkout, payer):
    share = Share.objects.get(checkout=checkout, traveller=payer)
    services.payment_start(
        checkout_id=checkout.pk,
        payer=payer,
        share_ids=[share.pk],
        payment_method=sandbox.card_payment_method(CARD_OK),
    )


def pages(user, trip, checkout) -> dict[str, str]:
    """What ``user`` reads on the trip page, their pay page and "My trips"."""
    client = Client()
    client.force_login(user)
    token = services.pay_link_token(checkout=checkout, payer=user)
    return {
        "trip": client.get(reverse("trip", args=[trip.pk])).content.decode(),
        "pay": Client().get(reverse("pay", args=[token])).content.decode(),
        "my_trips": client.get(reverse("my_trips")).content.decode(),
    }


@pytest.fixture
def dropped_at_deadline(stripe_sandbox):  # noqa: F811
    """Three travellers, "go ahead" at the deadline: Olivia and Ana pay, Ben does not; the
    worker's deadline job books the two and drops Ben."""
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    pay(stripe_sandbox, checkout, olivia)
    pay(stripe_sandbox, checkout, ana)
    deadlines.checkouts_deadline(now=checkout.deadline_at + dt.timedelta(seconds=1))
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    return trip, (olivia, ana, ben), checkout


def test_a_traveller_dropped_at_the_deadline_is_not_travelling_on_every_page(
    dropped_at_deadline,
):
    trip, (_olivia, _ana, ben), checkout = dropped_at_deadline
    assert selectors.travel_standing(user=ben, trip_id=trip.pk) == selectors.NOT_TRAVELLING
    seen = pages(ben, trip, checkout)
    for name, html in seen.items():
        assert BOOKED_WORDS not in html, name
        assert "Booked: your tickets" not in html, name
    assert NOT_TRAVELLING in seen["trip"]
    assert NOT_TRAVELLING in seen["pay"]
    assert 'data-standing="not_travelling"' in seen["my_trips"]
    assert 'data-standing="booked"' not in seen["my_trips"]


def test_those_who_paid_are_booked_on_every_page(dropped_at_deadline):
    trip, (olivia, _ana, _ben), checkout = dropped_at_deadline
    assert selectors.travel_standing(user=olivia, trip_id=trip.pk) == selectors.BOOKED
    seen = pages(olivia, trip, checkout)
    assert BOOKED_WORDS in seen["trip"]
    assert BOOKED_WORDS in seen["pay"]
    assert 'data-standing="booked"' in seen["my_trips"]
    for html in seen.values():
        assert NOT_TRAVELLING not in html


def test_standings_follow_the_trip_from_planning_to_paying():
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    assert selectors.travel_standings(user=ana, trip_ids=[trip.pk]) == {trip.pk: selectors.PLANNING}
    services.checkout_start(trip_id=trip.pk, by=olivia)
    assert selectors.travel_standing(user=ana, trip_id=trip.pk) == selectors.PAYING


def test_a_dropped_traveller_is_announced_after_commit_for_the_e_mail(
    stripe_sandbox,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    """The hook the messages issue's e-mail listens to: sent once, after the commit."""
    from payments import signals

    heard = []

    def listener(sender, **kwargs):
        heard.append(kwargs)

    signals.travellers_dropped.connect(listener)
    try:
        trip, (olivia, ben), _departure = factories.checkout_ready_trip(travellers=2)
        checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
        pay(stripe_sandbox, checkout, olivia)
        with django_capture_on_commit_callbacks(execute=True):
            deadlines.checkouts_deadline(now=checkout.deadline_at + dt.timedelta(seconds=1))
    finally:
        signals.travellers_dropped.disconnect(listener)
    assert heard == [
        {
            "signal": signals.travellers_dropped,
            "trip_id": trip.pk,
            "checkout_id": checkout.pk,
            "traveller_ids": [ben.pk],
        }
    ]


# --- Joining after planning (point 1) --------------------------------------------------------


def test_a_link_made_in_planning_admits_nobody_once_checkout_has_started():
    from booking.errors import TripClosedToJoiners
    from groups import services as group_services
    from groups.models import Membership

    trip, (olivia, _ana), _departure = factories.checkout_ready_trip(travellers=2)
    _invitation, token = group_services.invitation_create(group_id=trip.group_id, by=olivia)
    services.checkout_start(trip_id=trip.pk, by=olivia)
    late = factories.user("Lea Late")

    with pytest.raises(TripClosedToJoiners):
        group_services.invitation_accept(token=token, user=late)
    assert not Membership.objects.filter(group_id=trip.group_id, user=late).exists()
    # Nor a new link, through the service or the API.
    with pytest.raises(TripClosedToJoiners):
        group_services.invitation_create(group_id=trip.group_id, by=olivia)
    client = Client()
    client.force_login(olivia)
    answer = client.post(
        f"/api/groups/{trip.group_id}/invitations/", {"channel": "link"}, "application/json"
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "trip_closed_to_joiners"


def test_someone_waiting_for_approval_is_not_admitted_once_checkout_has_started():
    from booking.errors import TripClosedToJoiners
    from groups import services as group_services
    from groups.models import FriendGroup

    trip, (olivia, _ana), _departure = factories.checkout_ready_trip(travellers=2)
    FriendGroup.objects.filter(pk=trip.group_id).update(requires_approval=True)
    _invitation, token = group_services.invitation_create(group_id=trip.group_id, by=olivia)
    waiting = factories.user("Walt Waiting")
    assert group_services.invitation_accept(token=token, user=waiting).status == "pending"
    services.checkout_start(trip_id=trip.pk, by=olivia)
    with pytest.raises(TripClosedToJoiners):
        group_services.membership_approve(group_id=trip.group_id, by=olivia, user_id=waiting.pk)


def test_an_invitation_to_a_booked_trip_offers_a_seat_of_one_s_own_never_booked(
    dropped_at_deadline,
):
    from groups.models import Membership

    trip, (olivia, _ana, _ben), _checkout = dropped_at_deadline
    token = factories.link_made_while_planning(trip, by=olivia)
    late = factories.user("Lea Late")
    client = Client()
    client.force_login(late)
    page = client.get(reverse("join", args=[token]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-join-closed="booked"' in html
    departure_id = trip.legs.get(direction="outbound").departure_id
    assert reverse("departure", args=[departure_id]) in html
    assert "Join the trip" not in html
    assert BOOKED_WORDS not in html

    refused = client.post(reverse("join", args=[token]))
    assert refused.status_code == 409
    assert BOOKED_WORDS not in refused.content.decode()
    assert not Membership.objects.filter(group_id=trip.group_id, user=late).exists()

    # The organiser's trip page makes no new link and says why.
    organiser = Client()
    organiser.force_login(olivia)
    trip_html = organiser.get(reverse("trip", args=[trip.pk])).content.decode()
    assert "data-invites-closed" in trip_html
    assert "invite__create" not in trip_html
    refused = organiser.post(reverse("trip_invite", args=[trip.pk]))
    assert refused.status_code == 409


# --- Deleting an account with tickets still to use (point 4) ---------------------------------

FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}


@pytest.fixture
def friend_paid(stripe_sandbox):  # noqa: F811
    """Olivia and Ana (a guest, Flex), booked; Olivia paid both shares."""
    trip, (olivia, ana), _departure, checkout = factories.booked_by_organiser(
        stripe_sandbox, fares={1: FLEX}
    )
    return trip, checkout, olivia, ana


def test_deleting_an_account_cancels_its_tickets_and_refunds_the_friend_who_paid(
    friend_paid, django_capture_on_commit_callbacks
):
    from booking.models import AllocationState, Ticket
    from payments.models import Refund
    from payments.refund_rules import ticket_refund_amount

    trip, checkout, olivia, ana = friend_paid
    ticket = Ticket.objects.select_related("fare_class").get(booking__trip=trip, traveller=ana)
    due = ticket_refund_amount(ticket)
    assert due > 0
    client = Client()
    client.force_login(ana)

    # The page says what will happen, before anything is done.
    page = client.get(reverse("my_account_delete")).content.decode()
    assert f'data-delete-ticket="{ticket.pk}"' in page
    assert "refunded to Olivia" in page

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse("my_account_delete"), {"confirm": "on"})
    assert done.status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == "cancelled" and ticket.refunded_cents == due
    assert ticket.allocation.state == AllocationState.RELEASED  # no "?" seat on the map
    refund = Refund.objects.get(ticket=ticket)
    assert refund.payment.payer_id == olivia.pk and refund.amount_cents == due
    assert refund.state == "succeeded"  # asked of Stripe after the deletion committed

    # Olivia, who paid, sees it: no "Paid" for someone gone, and the refund to her card.
    page = selectors.checkout_page(checkout=checkout, viewer=olivia)
    gone = next(t for t in page.travellers if t.user_id == ana.pk)
    assert gone.status == "cancelled"
    assert [(r.amount_cents, r.state) for r in page.refunds_to_me] == [(due, "succeeded")]
    organiser = Client()
    organiser.force_login(olivia)
    html = organiser.get(reverse("trip", args=[trip.pk])).content.decode()
    assert "data-pay-refund" in html
    assert "Ticket cancelled" in html


# --- Leaving or being removed (point 5) ------------------------------------------------------


def _leave_page(user, trip) -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("trip_leave", args=[trip.pk])).content.decode()


def _remove_page(organiser, trip, user) -> str:
    client = Client()
    client.force_login(organiser)
    answer = client.get(reverse("trip_member_remove_confirm", args=[trip.pk, user.pk]))
    assert answer.status_code == 200
    return answer.content.decode()


def test_the_leave_and_remove_pages_say_what_happens_to_seat_share_and_ticket(
    dropped_at_deadline,
):
    trip, (olivia, ana, ben), _checkout = dropped_at_deadline
    # Ana, booked: her valid ticket keeps her a traveller until she cancels it; both
    # pages say so before anyone confirms, and offer no button.
    for html in (_leave_page(ana, trip), _remove_page(olivia, trip, ana)):
        assert 'data-error-code="ticket_still_valid"' in html
        assert 'type="submit"' not in html.split("</header>")[-1].split("<footer")[0]
    # Ben, dropped at the deadline: nothing left to lose.
    (outcome,) = selectors.leave_outcomes(user_id=ben.pk, group_id=trip.group_id)
    assert outcome.standing == selectors.NOT_TRAVELLING
    assert outcome.tickets == 0 and outcome.held_seats == []
    assert "data-leave-nothing" in _leave_page(ben, trip)


def test_planning_releases_the_seat_and_checkout_fixes_the_travellers():
    from booking.models import SeatAllocation

    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    seat = SeatAllocation.objects.filter(leg__trip=trip, user=ana).latest("pk").seat.label
    html = _leave_page(ana, trip)
    assert "data-leave-seats" in html and seat in html
    services.checkout_start(trip_id=trip.pk, by=olivia)
    html = _remove_page(olivia, trip, ana)
    assert 'data-error-code="travellers_fixed"' in html
    assert "data-leave-seats" not in html
