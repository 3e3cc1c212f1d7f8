"""Who travels while money moves: a checkout's travellers are fixed until it ends, and a
valid ticket keeps its traveller in the group until it is cancelled (issue 17's rule for a
traveller who leaves or is removed after paying). Every door says the same: the services,
the REST API, the leave and remove pages."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from booking.errors import TicketStillValid
from booking.models import Ticket
from groups import services as group_services
from groups.models import Membership
from payments import services
from payments.errors import TravellersFixed
from payments.models import Checkout, Payment, Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db


def _share(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def _pay(sandbox, checkout, payer, travellers) -> None:
    services.payment_start(
        checkout_id=checkout.pk,
        payer=payer,
        share_ids=[_share(checkout, t).pk for t in travellers],
        payment_method=sandbox.card_payment_method(CARD_OK),
    )
    tasks_run()


def _status(trip, user) -> str:
    return Membership.objects.get(group=trip.group, user=user).status


@pytest.fixture
def in_checkout(stripe_sandbox):
    """Olivia (organiser), Ana who paid her own share, Ben who has not paid yet."""
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    _pay(stripe_sandbox, checkout, ana, [ana])
    return trip, checkout, olivia, ana, ben


def test_a_traveller_who_paid_cannot_leave_during_checkout_and_nothing_changes(in_checkout):
    trip, checkout, _olivia, ana, _ben = in_checkout
    with pytest.raises(TravellersFixed):
        group_services.membership_leave(group_id=trip.group_id, user=ana)
    assert _status(trip, ana) == Membership.Status.ACTIVE
    assert _share(checkout, ana).state == Share.State.AUTHORISED
    assert Payment.objects.get(checkout=checkout).state == Payment.State.AUTHORISED


def test_the_organiser_cannot_remove_a_traveller_during_checkout_paid_or_not(in_checkout):
    trip, _checkout, olivia, ana, ben = in_checkout
    for who in (ana, ben):
        with pytest.raises(TravellersFixed):
            group_services.membership_remove(group_id=trip.group_id, by=olivia, user_id=who.pk)
        assert _status(trip, who) == Membership.Status.ACTIVE


def test_the_api_and_the_leave_page_refuse_with_the_same_code(in_checkout):
    trip, _checkout, olivia, ana, ben = in_checkout
    api = APIClient()
    api.force_login(ana)
    answer = api.post(f"/api/groups/{trip.group_id}/leave/")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "travellers_fixed"
    api.force_login(olivia)
    answer = api.post(f"/api/groups/{trip.group_id}/members/{ben.pk}/remove/")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "travellers_fixed"
    # The leave page says it before anyone confirms.
    from django.test import Client

    browser = Client()
    browser.force_login(ben)
    page = browser.get(reverse("trip_leave", args=[trip.pk]))
    assert page.status_code == 200
    assert 'data-error-code="travellers_fixed"' in page.content.decode()
    refused = browser.post(reverse("trip_leave", args=[trip.pk]))
    assert refused.status_code == 409
    assert _status(trip, ben) == Membership.Status.ACTIVE


def test_once_the_checkout_is_cancelled_a_traveller_may_leave(in_checkout):
    trip, checkout, _olivia, _ana, ben = in_checkout
    Checkout.objects.filter(pk=checkout.pk).update(state=Checkout.State.CANCELLED)
    group_services.membership_leave(group_id=trip.group_id, user=ben)
    assert _status(trip, ben) == Membership.Status.LEFT


def test_a_traveller_with_a_valid_ticket_leaves_only_once_it_is_cancelled(stripe_sandbox):
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    _pay(stripe_sandbox, checkout, olivia, [olivia, ana])
    assert Ticket.objects.filter(traveller=ana, state=Ticket.State.VALID).count() == 1
    with pytest.raises(TicketStillValid):
        group_services.membership_leave(group_id=trip.group_id, user=ana)
    with pytest.raises(TicketStillValid):
        group_services.membership_remove(group_id=trip.group_id, by=olivia, user_id=ana.pk)
    assert (
        group_services.membership_end_check(
            group_id=trip.group_id, user_id=ana.pk, kind="member_left"
        ).code
        == "ticket_still_valid"
    )
    ticket = Ticket.objects.get(traveller=ana)
    services.ticket_cancel(ticket_id=ticket.pk, by=ana)
    assert (
        group_services.membership_end_check(
            group_id=trip.group_id, user_id=ana.pk, kind="member_left"
        )
        is None
    )
    group_services.membership_leave(group_id=trip.group_id, user=ana)
    assert _status(trip, ana) == Membership.Status.LEFT


def test_while_planning_anyone_may_leave():
    trip, people, _departures = factories.planned_trip(travellers=3)
    group_services.membership_leave(group_id=trip.group_id, user=people[2])
    assert _status(trip, people[2]) == Membership.Status.LEFT


def test_an_account_is_not_deleted_during_a_checkout_that_counts_its_owner(in_checkout):
    """Deleting an account leaves its groups: while a checkout counts them as a
    traveller, the delete page says it waits for the checkout's end, and a POST deletes
    nothing."""
    from django.test import Client

    from groups import account_services

    trip, checkout, _olivia, ana, _ben = in_checkout
    assert account_services.account_delete_check(user=ana).code == "travellers_fixed"
    browser = Client()
    browser.force_login(ana)
    page = browser.get(reverse("my_account_delete"))
    assert 'data-error-code="travellers_fixed"' in page.content.decode()
    refused = browser.post(reverse("my_account_delete"), {"confirm": "on"})
    assert refused.status_code == 409
    ana.refresh_from_db()
    assert not ana.username.startswith("deleted-")
    assert _status(trip, ana) == Membership.Status.ACTIVE
    assert _share(checkout, ana).state == Share.State.AUTHORISED
    # The dry run wrote nothing either: the same check once the checkout is over.
    Checkout.objects.filter(pk=checkout.pk).update(state=Checkout.State.CANCELLED)
    assert account_services.account_delete_check(user=ana) is None
    ana.refresh_from_db()
    assert not ana.username.startswith("deleted-")
