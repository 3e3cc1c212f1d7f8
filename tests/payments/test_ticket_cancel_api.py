"""Cancelling a ticket through the REST door (payments/api.py) against the Stripe sandbox:
the quote states what ``ticket_cancel`` then refunds (Flex: price less the fee, to the card
that paid, a friend's included; Standard: nothing), the POST cancels, and a second POST
(a double submit, a retry) refunds nothing more, here or at Stripe."""

import pytest
from rest_framework.test import APIClient

from booking.models import AllocationState, Ticket
from payments import services
from payments.models import Payment, Refund, Share
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db

FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}
STANDARD = {"fare_class_code": "standard-2", "passenger_type_code": "adult", "age": 35}


def book_three(sandbox):
    """Olivia (Flex) pays for herself and for Ben (Flex); Ana (Standard) pays her own.
    Returns (trip, checkout, olivia, ana, ben), the booking confirmed."""
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(
        travellers=3, fares={0: FLEX, 1: STANDARD, 2: FLEX}
    )
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    shares = {s.traveller_id: s.pk for s in Share.objects.filter(checkout=checkout)}
    for payer, covered in ((olivia, [olivia, ben]), (ana, [ana])):
        services.payment_start(
            checkout_id=checkout.pk,
            payer=payer,
            share_ids=[shares[u.pk] for u in covered],
            payment_method=sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    return trip, checkout, olivia, ana, ben


def ticket_of(trip, user) -> Ticket:
    return Ticket.objects.select_related("fare_class", "allocation").get(
        booking__trip=trip, traveller=user
    )


def url(ticket) -> str:
    return f"/api/tickets/{ticket.pk}/cancel/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def stripe_refunds(sandbox, intent_id: str) -> list[int]:
    status, listed = sandbox.request("GET", "/v1/refunds", {"payment_intent": intent_id})
    assert status == 200, listed
    return [r["amount"] for r in listed["data"] if r["payment_intent"] == intent_id]


@pytest.fixture
def booked(stripe_sandbox):
    return book_three(stripe_sandbox)


def test_the_quote_of_a_flex_ticket_is_its_price_less_the_fee(booked):
    trip, _checkout, olivia, _ana, _ben = booked
    ticket = ticket_of(trip, olivia)

    answer = client_for(olivia).get(url(ticket))

    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "ticket_id": ticket.pk,
        "code": ticket.code,
        "state": "valid",
        "cancellable": True,
        "fare_class": "flex-2",
        "refundable": True,
        "price_cents": ticket.price_cents,
        "fee_cents": 500,
        "refund_cents": ticket.price_cents - 500,
        "currency": "EUR",
        "refund_to_payer": False,
        "refund": None,
    }
    ticket.refresh_from_db()
    assert ticket.state == "valid" and not Refund.objects.exists()  # a quote writes nothing


def test_the_quote_of_a_standard_ticket_is_no_refund(booked):
    trip, _checkout, _olivia, ana, _ben = booked
    body = client_for(ana).get(url(ticket_of(trip, ana))).json()
    assert (body["refundable"], body["fee_cents"], body["refund_cents"]) == (False, 0, 0)


def test_a_share_a_friend_paid_is_refunded_to_the_friends_card(booked):
    trip, checkout, olivia, _ana, ben = booked
    ticket = ticket_of(trip, ben)
    quote = client_for(ben).get(url(ticket)).json()
    assert quote["refund_to_payer"] is True

    done = client_for(ben).post(url(ticket))

    assert done.status_code == 200, done.content
    refund = Refund.objects.get(ticket=ticket)
    assert refund.payment == Payment.objects.get(checkout=checkout, payer=olivia)
    assert done.json()["refund"] == {
        "amount_cents": quote["refund_cents"],
        "currency": "EUR",
        "state": "succeeded",
    }


def test_cancelling_twice_refunds_once_here_and_at_stripe(stripe_sandbox, booked):
    trip, checkout, olivia, _ana, _ben = booked
    ticket = ticket_of(trip, olivia)
    client = client_for(olivia)
    quoted = client.get(url(ticket)).json()["refund_cents"]

    first = client.post(url(ticket))
    second = client.post(url(ticket))  # a double submit, or a retry after a timeout

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["state"] == "cancelled"
    assert first.json()["cancellable"] is False
    assert first.json()["refund_cents"] == quoted
    assert first.json()["refund"]["state"] == "succeeded"
    payment = Payment.objects.get(checkout=checkout, payer=olivia)
    assert list(Refund.objects.filter(payment=payment).values_list("amount_cents", flat=True)) == [
        quoted
    ]
    assert stripe_refunds(stripe_sandbox, payment.stripe_payment_intent_id) == [quoted]
    ticket.refresh_from_db()
    assert (ticket.state, ticket.refunded_cents) == ("cancelled", quoted)
    assert ticket.allocation.state == AllocationState.RELEASED


def test_a_standard_ticket_is_cancelled_without_a_refund(booked):
    trip, _checkout, _olivia, ana, _ben = booked
    ticket = ticket_of(trip, ana)
    body = client_for(ana).post(url(ticket)).json()
    assert (body["state"], body["refund_cents"], body["refund"]) == ("cancelled", 0, None)
    assert not Refund.objects.filter(ticket=ticket).exists()


def test_only_the_traveller_may_quote_or_cancel(booked):
    trip, _checkout, olivia, ana, ben = booked
    ticket = ticket_of(trip, ben)  # Olivia paid for it: she still cannot cancel Ben's seat
    stranger = factories.user("Sam Stranger")
    for someone in (olivia, ana, stranger):
        for method in ("get", "post"):
            answer = getattr(client_for(someone), method)(url(ticket))
            assert answer.status_code == 404, (someone, method)
            assert answer.json()["error"]["code"] == "ticket_not_found"
    anonymous = APIClient().post(url(ticket))
    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    missing = client_for(ben).get(f"/api/tickets/{ticket.pk + 1000}/cancel/")
    assert missing.status_code == 404
    ticket.refresh_from_db()
    assert ticket.state == "valid" and not Refund.objects.exists()


def test_a_ticket_whose_train_has_left_cannot_be_cancelled(booked):
    import datetime as dt

    from django.utils import timezone

    trip, _checkout, olivia, _ana, _ben = booked
    ticket = ticket_of(trip, olivia)
    departure = ticket.allocation.departure
    departure.departs_at = timezone.now() - dt.timedelta(minutes=5)
    departure.save(update_fields=["departs_at"])
    client = client_for(olivia)

    assert client.get(url(ticket)).json()["cancellable"] is False
    answer = client.post(url(ticket))

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "departure_not_bookable"
    ticket.refresh_from_db()
    assert ticket.state == "valid" and not Refund.objects.exists()
