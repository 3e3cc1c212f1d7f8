"""A traveller cancels a ticket after the booking (payments.services.ticket_cancel), by
their fare's rules, against the Stripe sandbox: Flex refunds its price less the fee,
Standard refunds nothing; the seat is free again; twice refunds once."""

import json

import pytest

from booking import live
from booking.errors import TicketNotFound
from booking.models import AllocationState, Booking, SeatAllocation, Ticket, TripEvent
from payments import services
from payments.models import Payment, Refund, Share
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db

FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}
STANDARD = {"fare_class_code": "standard-2", "passenger_type_code": "adult", "age": 35}


@pytest.fixture
def booked(stripe_sandbox):
    """Olivia (Flex) and Ana (Standard), booked; Olivia paid both shares in one payment."""
    trip, (olivia, ana), departure = factories.checkout_ready_trip(
        travellers=2, fares={0: FLEX, 1: STANDARD}
    )
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=list(Share.objects.filter(checkout=checkout).values_list("pk", flat=True)),
        payment_method=stripe_sandbox.card_payment_method(),
    )
    tasks_run()  # the worker: a queued confirmation runs
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    return trip, checkout, olivia, ana, departure


def ticket_of(trip, user) -> Ticket:
    return Ticket.objects.select_related("fare_class", "allocation").get(
        booking__trip=trip, traveller=user
    )


def stripe_refund(sandbox, refund_id) -> dict:
    status, body = sandbox.request("GET", f"/v1/refunds/{refund_id}")
    assert status == 200, body
    return body


def test_a_flex_ticket_refunds_its_price_less_the_fee_once(
    stripe_sandbox, booked, monkeypatch, django_capture_on_commit_callbacks
):
    trip, checkout, olivia, _ana, departure = booked
    ticket = ticket_of(trip, olivia)
    assert ticket.fare_class.refundable and ticket.fare_class.refund_fee_cents == 500
    expected = ticket.price_cents - 500
    sent = []
    monkeypatch.setattr(live, "_send", lambda group, message: sent.append((group, message)))

    with django_capture_on_commit_callbacks(execute=True):
        result = services.ticket_cancel(ticket_id=ticket.pk, by=olivia)

    payment = Payment.objects.get(checkout=checkout)
    refund = Refund.objects.get(ticket=ticket)
    assert result.refund == refund
    assert (refund.amount_cents, refund.state, refund.payment) == (expected, "succeeded", payment)
    assert refund.idempotency_key == f"refund-{ticket.pk}-{payment.key}"
    at_stripe = stripe_refund(stripe_sandbox, refund.stripe_refund_id)
    assert at_stripe["amount"] == expected
    assert at_stripe["payment_intent"] == payment.stripe_payment_intent_id
    ticket.refresh_from_db()
    assert (ticket.state, ticket.refunded_cents) == ("cancelled", expected)
    assert ticket.allocation.state == AllocationState.RELEASED
    assert {"seat_id": ticket.allocation.seat_id, "status": "free"} in [
        seat
        for group, message in sent
        if group == live.departure_group(departure.pk)
        for seat in json.loads(message["text"])["seats"]
    ]
    event = TripEvent.objects.filter(trip=trip, kind="ticket_cancelled").get()
    assert event.payload["traveller"] == olivia.pk and "cents" not in str(event.payload)
    money = services.checkout_money(checkout_id=checkout.pk)
    assert (money.paid_cents, money.refunded_cents) == (payment.amount_cents, expected)
    assert Booking.objects.get(trip=trip).state == "confirmed"  # Ana still travels

    # Twice: no second refund, here or at Stripe.
    again = services.ticket_cancel(ticket_id=ticket.pk, by=olivia)
    assert again.refund == refund
    assert Refund.objects.filter(payment=payment).count() == 1
    assert TripEvent.objects.filter(trip=trip, kind="ticket_cancelled").count() == 1
    status, listed = stripe_sandbox.request(
        "GET", "/v1/refunds", {"payment_intent": payment.stripe_payment_intent_id}
    )
    assert status == 200, listed
    ours = [r for r in listed["data"] if r["payment_intent"] == payment.stripe_payment_intent_id]
    assert [r["amount"] for r in ours] == [expected]


def test_a_standard_ticket_refunds_nothing_and_frees_the_seat(stripe_sandbox, booked):
    trip, checkout, _olivia, ana, _departure = booked
    ticket = ticket_of(trip, ana)
    assert not ticket.fare_class.refundable

    result = services.ticket_cancel(ticket_id=ticket.pk, by=ana)

    assert result.refund is None
    assert not Refund.objects.filter(payment__checkout=checkout).exists()
    ticket.refresh_from_db()
    assert (ticket.state, ticket.refunded_cents) == ("cancelled", 0)
    assert ticket.allocation.state == AllocationState.RELEASED
    # The seat is free for anyone: no live hold or sale on it any more.
    assert not SeatAllocation.objects.filter(
        departure_id=ticket.allocation.departure_id,
        seat_id=ticket.allocation.seat_id,
        state__in=["held", "sold"],
    ).exists()
    assert services.checkout_money(checkout_id=checkout.pk).refunded_cents == 0
    assert TripEvent.objects.filter(trip=trip, kind="ticket_cancelled").count() == 1


def test_only_the_traveller_cancels_their_ticket(stripe_sandbox, booked):
    trip, _checkout, olivia, ana, _departure = booked
    ticket = ticket_of(trip, ana)
    stranger = factories.user("Sam Stranger")
    for someone in (olivia, stranger, None):  # the organiser neither
        with pytest.raises(TicketNotFound):
            services.ticket_cancel(ticket_id=ticket.pk, by=someone)
    with pytest.raises(TicketNotFound):
        services.ticket_cancel(ticket_id=ticket.pk + 1000, by=ana)
    ticket.refresh_from_db()
    assert ticket.state == "valid" and ticket.allocation.state == AllocationState.SOLD
    assert not Refund.objects.exists()


def test_the_last_ticket_cancelled_cancels_the_booking(stripe_sandbox, booked):
    trip, _checkout, olivia, ana, _departure = booked
    services.ticket_cancel(ticket_id=ticket_of(trip, olivia).pk, by=olivia)
    services.ticket_cancel(ticket_id=ticket_of(trip, ana).pk, by=ana)
    assert Booking.objects.get(trip=trip).state == "cancelled"


def test_a_refund_is_announced_to_the_apps_above_after_commit(
    stripe_sandbox, booked, django_capture_on_commit_callbacks
):
    from booking import signals

    trip, _checkout, olivia, ana, _departure = booked
    heard = []

    def listener(sender, **kwargs):
        kwargs.pop("signal", None)
        heard.append(kwargs)

    signals.ticket_refunded.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.ticket_cancel(ticket_id=ticket_of(trip, ana).pk, by=ana)  # Standard
        assert heard == []  # nothing refunded, nothing said
        ticket = ticket_of(trip, olivia)
        with django_capture_on_commit_callbacks(execute=True):
            services.ticket_cancel(ticket_id=ticket.pk, by=olivia)
        ticket.refresh_from_db()
        assert heard == [
            {
                "booking_id": ticket.booking_id,
                "ticket_id": ticket.pk,
                "traveller_id": olivia.pk,
                "refunded_cents": ticket.refunded_cents,
                "currency": "EUR",
            }
        ]
    finally:
        signals.ticket_refunded.disconnect(listener)
