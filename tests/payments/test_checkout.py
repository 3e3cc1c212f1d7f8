"""The checkout's money path against the Stripe sandbox (localstripe behind our idempotency
layer): shares fixed at checkout start, one PaymentIntent per payer (manual capture),
all or nothing at confirmation, tickets one per traveller per leg.

Cards are confirmed server-side with a payment method made in the sandbox (what Stripe.js
makes in the browser): ``payment_start(..., payment_method=...)``."""

import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from booking import plan
from booking.errors import TripLocked
from booking.models import AllocationState, Booking, SeatAllocation, Ticket, Trip, TripEvent
from booking.tickets import ticket_signed_code
from core.errors import InvalidInput
from groups.errors import NotOrganiser
from payments import selectors, services
from payments import stripe_gateway as gateway
from payments.errors import (
    CardDeclined,
    CheckoutNotFound,
    CheckoutNotReady,
    PayLinkInvalid,
    ShareUnavailable,
    StripeError,
)
from payments.models import Checkout, Payment, Share, ShareItem
from sandboxes.stripe_server import CARD_3DS, CARD_DECLINED, CARD_OK
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db

ADULT = {"fare_class_code": "standard-2", "passenger_type_code": "adult", "age": 35}


def youth():
    return {
        "fare_class_code": "standard-2",
        "passenger_type_code": "youth",
        "age": 20,
        "card_code": "youth-card",
        "card_number": factories.youth_card_number(),
    }


def written(trip):
    """What a refused start must leave unchanged."""
    trip.refresh_from_db()
    return (
        trip.status,
        trip.version,
        Checkout.objects.count(),
        Share.objects.count(),
        list(SeatAllocation.objects.order_by("pk").values_list("state", "expires_at")),
    )


def share_of(checkout, user) -> Share:
    return Share.objects.get(checkout=checkout, traveller=user)


def pay(sandbox, checkout, payer, shares, card=CARD_OK):
    started = services.payment_start(
        checkout_id=checkout.pk,
        payer=payer,
        share_ids=[s.pk for s in shares],
        payment_method=sandbox.card_payment_method(card),
    )
    tasks_run()  # the worker: a queued confirmation runs
    return started


def intents(sandbox, checkout) -> dict[str, dict]:
    """The sandbox's PaymentIntents of this checkout's payments, by id."""
    ours = set(
        Payment.objects.filter(checkout=checkout)
        .exclude(stripe_payment_intent_id=None)
        .values_list("stripe_payment_intent_id", flat=True)
    )
    return {pi["id"]: pi for pi in sandbox.payment_intents() if pi["id"] in ours}


@pytest.fixture
def ready():
    return factories.checkout_ready_trip(travellers=3, fares={0: ADULT, 1: youth(), 2: ADULT})


# --- Start ---------------------------------------------------------------------------------


def test_a_member_cannot_start_and_nothing_is_written(ready):
    trip, (_olivia, ana, _ben), _departure = ready
    before = written(trip)
    with pytest.raises(NotOrganiser):
        services.checkout_start(trip_id=trip.pk, by=ana)
    assert written(trip) == before


def test_an_unsettled_leg_refuses_checkout():
    trip, (olivia, *_others), _departures = factories.planned_trip(travellers=2, options=2)
    before = written(trip)
    with pytest.raises(CheckoutNotReady):
        services.checkout_start(trip_id=trip.pk, by=olivia)
    assert written(trip) == before


def test_a_traveller_without_a_seat_is_named_and_nothing_is_written():
    trip, (olivia, *_friends), departures = factories.planned_trip(travellers=3, options=2)
    plan.poll_settle(trip_id=trip.pk, by=olivia, leg="outbound", departure_id=departures[0].pk)
    seat = departures[0].vehicle.coaches.get(number=2).seats.order_by("number").first()
    plan.seat_pick(trip_id=trip.pk, user=olivia, leg="outbound", seat_id=seat.pk)
    before = written(trip)
    with pytest.raises(CheckoutNotReady) as refused:
        services.checkout_start(trip_id=trip.pk, by=olivia)
    assert "Friend 1" in str(refused.value.message) and "Friend 2" in str(refused.value.message)
    assert "Olivia" not in str(refused.value.message)
    assert len(refused.value.fields["travellers"]) == 2
    assert written(trip) == before


@pytest.mark.parametrize("hours", [0, 73, "24"])
def test_a_deadline_out_of_range_is_refused(ready, hours):
    trip, (olivia, *_), _departure = ready
    before = written(trip)
    with pytest.raises(InvalidInput):
        services.checkout_start(trip_id=trip.pk, by=olivia, deadline_hours=hours)
    with pytest.raises(InvalidInput):
        services.checkout_start(trip_id=trip.pk, by=olivia, policy="whatever")
    assert written(trip) == before


def test_shares_are_priced_and_frozen_and_the_plan_is_locked(ready):
    trip, (olivia, ana, ben), departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, deadline_hours=12)

    # 3 of 12 second-class seats held: no uplift; the youth card takes 30 % off 45.00.
    assert [(s.traveller, s.amount_cents, s.state) for s in Share.objects.order_by("pk")] == [
        (olivia, 4500, "unpaid"),
        (ana, 3150, "unpaid"),
        (ben, 4500, "unpaid"),
    ]
    item = ShareItem.objects.get(share__traveller=ana)
    assert (item.fare_class.code, item.discount_card.code, item.amount_cents) == (
        "standard-2",
        "youth-card",
        3150,
    )
    assert item.allocation.user == ana and item.allocation.departure == departure
    trip.refresh_from_db()
    assert trip.status == Trip.Status.CHECKOUT
    assert checkout.state == "open" and checkout.policy == "go_ahead"
    held = SeatAllocation.objects.filter(leg__trip=trip, state=AllocationState.HELD)
    assert {a.expires_at for a in held} == {checkout.deadline_at}
    event = TripEvent.objects.filter(trip=trip).latest("version")
    assert event.kind == "checkout_started" and event.payload["checkout_id"] == checkout.pk
    assert "amount_cents" not in str(event.payload)
    with pytest.raises(TripLocked):
        plan.seat_release(trip_id=trip.pk, user=ana, leg="outbound")
    with pytest.raises(TripLocked):  # one checkout per trip
        services.checkout_start(trip_id=trip.pk, by=olivia)


def test_checkout_start_costs_the_same_queries_for_2_or_8_travellers():
    counts = []
    for size in (2, 8):
        trip, (olivia, *_), _departure = factories.checkout_ready_trip(travellers=size)
        with CaptureQueriesContext(connection) as queries:
            services.checkout_start(trip_id=trip.pk, by=olivia)
        assert Share.objects.filter(checkout__trip=trip).count() == size
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[0] <= 25


def test_pay_links_carry_checkout_and_payer(ready):
    trip, (olivia, ana, _ben), _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    token = services.pay_link_token(checkout=checkout, payer=ana)
    link = selectors.pay_link_read(token=token)
    assert (link.checkout, link.payer) == (checkout, ana)
    for forged in (token[:-2] + "xx", "nonsense", token.replace(":", "!", 1)):
        with pytest.raises(PayLinkInvalid):
            selectors.pay_link_read(token=forged)


# --- Paying ----------------------------------------------------------------------------------


def test_three_payers_one_covering_a_friend_then_the_booking_is_confirmed(stripe_sandbox):
    trip, (olivia, ana, ben, cleo), departure = factories.checkout_ready_trip(travellers=4)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    shares = {user: share_of(checkout, user) for user in (olivia, ana, ben, cleo)}

    first = pay(stripe_sandbox, checkout, olivia, [shares[olivia]])
    assert first.status == "requires_capture" and first.client_secret
    assert first.payment.state == "authorised"
    # Ana pays for herself and for Cleo, in one PaymentIntent.
    both = pay(stripe_sandbox, checkout, ana, [shares[ana], shares[cleo]])
    assert both.payment.amount_cents == shares[ana].amount_cents + shares[cleo].amount_cents
    checkout.refresh_from_db()
    assert checkout.state == "open"
    assert Share.objects.filter(checkout=checkout, state="authorised").count() == 3
    assert Ticket.objects.count() == 0
    before = intents(stripe_sandbox, checkout)
    assert {pi["status"] for pi in before.values()} == {"requires_capture"}
    metadata = before[both.payment.stripe_payment_intent_id]["metadata"]
    assert metadata["payment"] == str(both.payment.pk)
    assert metadata["shares"] == f"{shares[ana].pk},{shares[cleo].pk}"

    pay(stripe_sandbox, checkout, ben, [shares[ben]])  # the last one: the booking is made

    checkout.refresh_from_db()
    trip.refresh_from_db()
    assert checkout.state == "confirmed" and checkout.confirmed_at
    assert trip.status == Trip.Status.BOOKED
    assert set(Share.objects.filter(checkout=checkout).values_list("state", flat=True)) == {
        "captured"
    }
    assert set(Payment.objects.filter(checkout=checkout).values_list("state", flat=True)) == {
        "captured"
    }
    allocations = SeatAllocation.objects.filter(leg__trip=trip, state=AllocationState.SOLD)
    assert allocations.count() == 4 and {a.expires_at for a in allocations} == {None}
    booking = Booking.objects.get(trip=trip)
    tickets = list(booking.tickets.all())
    assert sorted(t.traveller_id for t in tickets) == sorted(u.pk for u in (olivia, ana, ben, cleo))
    assert {t.allocation.departure_id for t in tickets} == {departure.pk}
    assert len({t.code for t in tickets}) == 4
    assert {t.price_cents for t in tickets} == {s.amount_cents for s in shares.values()}
    after = intents(stripe_sandbox, checkout)
    assert len(after) == 3
    for pi in after.values():
        assert pi["status"] == "succeeded"
        assert pi["amount_received"] == pi["amount"]
    assert TripEvent.objects.filter(trip=trip, kind="booking_confirmed").count() == 1

    # Confirming again changes nothing, here or at Stripe.
    again = services.checkout_confirm(checkout_id=checkout.pk)
    assert again.state == "confirmed"
    assert Booking.objects.filter(trip=trip).count() == 1 and Ticket.objects.count() == 4
    assert intents(stripe_sandbox, checkout) == after
    assert services.payment_sync(payment_id=first.payment.pk).state == "captured"


def test_a_declined_card_fails_and_a_new_attempt_with_a_good_card_pays(stripe_sandbox, ready):
    trip, (olivia, ana, _ben), _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    share = share_of(checkout, ana)

    with pytest.raises(CardDeclined) as declined:
        pay(stripe_sandbox, checkout, ana, [share], card=CARD_DECLINED)
    assert declined.value.status == 402
    failed = Payment.objects.get(checkout=checkout, payer=ana)
    assert (failed.state, failed.attempt) == ("failed", 1)
    assert failed.last_error
    share.refresh_from_db()
    assert (share.state, share.payment) == ("unpaid", None)

    retry = pay(stripe_sandbox, checkout, ana, [share])
    assert retry.payment.attempt == 2 and retry.payment.state == "authorised"
    assert retry.payment.idempotency_key("create") != failed.idempotency_key("create")
    assert retry.payment.stripe_payment_intent_id != failed.stripe_payment_intent_id
    share.refresh_from_db()
    assert (share.state, share.payment) == ("authorised", retry.payment)


def test_a_3d_secure_card_waits_for_the_bank_and_keeps_the_share(stripe_sandbox, ready):
    trip, (olivia, ana, ben), _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    share = share_of(checkout, ana)

    started = pay(stripe_sandbox, checkout, ana, [share], card=CARD_3DS)
    assert started.status == "requires_action" and started.client_secret
    assert started.payment.state == "requires_action"
    share.refresh_from_db()
    assert (share.state, share.payment) == ("unpaid", started.payment)
    with pytest.raises(ShareUnavailable):  # covered by Ana's payment meanwhile
        pay(stripe_sandbox, checkout, ben, [share])
    # Syncing again (the page's return) changes nothing until the bank answers.
    assert services.payment_sync(payment_id=started.payment.pk).state == "requires_action"


def test_payment_start_refusals_write_nothing(stripe_sandbox, ready):
    trip, (olivia, ana, ben), _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    share = share_of(checkout, ana)
    other_trip, (other_organiser, *_), _ = factories.checkout_ready_trip(travellers=2)
    other = services.checkout_start(trip_id=other_trip.pk, by=other_organiser)
    stranger = factories.user("Sam Stranger")
    payments_before = Payment.objects.count()

    with pytest.raises(ShareUnavailable):  # a share of another checkout
        pay(stripe_sandbox, checkout, ana, [share_of(other, other_organiser)])
    with pytest.raises(CheckoutNotFound):  # not a traveller of the trip
        pay(stripe_sandbox, checkout, stranger, [share])
    with pytest.raises(InvalidInput):
        services.payment_start(checkout_id=checkout.pk, payer=ana, share_ids=[])
        tasks_run()  # the worker: a queued confirmation runs
    assert Payment.objects.count() == payments_before

    pay(stripe_sandbox, checkout, ana, [share])
    with pytest.raises(ShareUnavailable):  # already authorised
        pay(stripe_sandbox, checkout, ben, [share])
    assert Payment.objects.count() == payments_before + 1


def test_the_same_shares_twice_and_a_retried_create_make_one_intent(stripe_sandbox, ready):
    trip, (olivia, ana, ben), _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    shares = [share_of(checkout, ana), share_of(checkout, ben)]
    started = services.payment_start(
        checkout_id=checkout.pk, payer=ana, share_ids=[s.pk for s in shares]
    )
    tasks_run()  # the worker: a queued confirmation runs
    assert started.status == "requires_payment_method"  # the page confirms with Stripe.js
    with pytest.raises(ShareUnavailable):
        services.payment_start(checkout_id=checkout.pk, payer=ana, share_ids=[shares[0].pk])
        tasks_run()  # the worker: a queued confirmation runs
    assert Payment.objects.filter(checkout=checkout).count() == 1

    # The create retried with its key (after a timeout, a crash) gets the same intent.
    payment = started.payment
    again = gateway.payment_intent_create(
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        metadata={
            "checkout": str(checkout.pk),
            "trip": str(trip.pk),
            "payment": str(payment.pk),
            "payer": str(ana.pk),
            "shares": ",".join(str(s.pk) for s in shares),
        },
        idempotency_key=payment.idempotency_key("create"),
        customer_email=ana.email,
    )
    assert again.id == payment.stripe_payment_intent_id
    made = [
        pi
        for pi in stripe_sandbox.payment_intents()
        if pi["metadata"].get("payment") == str(payment.pk) and pi["id"] == again.id
    ]
    assert len(made) == 1
    assert payment.idempotency_key("create") == f"pi-create-{payment.key}-1"


def test_sync_is_idempotent(stripe_sandbox, ready):
    trip, (olivia, ana, _ben), _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    started = pay(stripe_sandbox, checkout, ana, [share_of(checkout, ana)])
    version = Trip.objects.get(pk=trip.pk).version
    for _ in range(3):
        assert services.payment_sync(payment_id=started.payment.pk).state == "authorised"
    assert Trip.objects.get(pk=trip.pk).version == version
    assert share_of(checkout, ana).state == "authorised"


def test_an_authorisation_cancelled_behind_our_back_charges_nobody(stripe_sandbox):
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    first = pay(stripe_sandbox, checkout, olivia, [share_of(checkout, olivia)])
    fallen = pay(stripe_sandbox, checkout, ana, [share_of(checkout, ana)])
    # Stripe cancels Ana's authorisation (expired, cancelled in the dashboard…): the
    # second of three in capture order, so capturing blindly would charge Olivia.
    status, _body = stripe_sandbox.request(
        "POST", f"/v1/payment_intents/{fallen.payment.stripe_payment_intent_id}/cancel", {}
    )
    assert status == 200

    last = pay(stripe_sandbox, checkout, ben, [share_of(checkout, ben)])

    checkout.refresh_from_db()
    assert checkout.state == "open"
    ana_share = share_of(checkout, ana)
    assert (ana_share.state, ana_share.payment) == ("unpaid", None)
    assert Payment.objects.get(pk=fallen.payment.pk).state == "failed"
    assert {share_of(checkout, u).state for u in (olivia, ben)} == {"authorised"}
    seen = intents(stripe_sandbox, checkout)
    assert seen[first.payment.stripe_payment_intent_id]["status"] == "requires_capture"
    assert seen[last.payment.stripe_payment_intent_id]["status"] == "requires_capture"
    assert seen[fallen.payment.stripe_payment_intent_id]["status"] == "canceled"
    assert Ticket.objects.count() == 0
    # The seats still wait until the deadline.
    held = SeatAllocation.objects.filter(leg__trip=trip, state=AllocationState.HELD)
    assert held.count() == 3 and {a.expires_at for a in held} == {checkout.deadline_at}

    # Ana pays again: now the booking goes through, each intent captured once.
    pay(stripe_sandbox, checkout, ana, [ana_share])
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    statuses = {pi["id"]: pi["status"] for pi in intents(stripe_sandbox, checkout).values()}
    assert statuses[fallen.payment.stripe_payment_intent_id] == "canceled"
    assert sorted(statuses.values()) == ["canceled", "succeeded", "succeeded", "succeeded"]


def test_confirm_before_everyone_paid_is_refused(stripe_sandbox, ready):
    trip, (olivia, *_), _departure = ready
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    pay(stripe_sandbox, checkout, olivia, [share_of(checkout, olivia)])
    with pytest.raises(CheckoutNotReady):
        services.checkout_confirm(checkout_id=checkout.pk)
    checkout.refresh_from_db()
    assert checkout.state == "open"
    assert Payment.objects.get(checkout=checkout).state == "authorised"


# --- Tickets -------------------------------------------------------------------------------


@pytest.fixture
def booked(stripe_sandbox):
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    pay(stripe_sandbox, checkout, olivia, [share_of(checkout, olivia), share_of(checkout, ana)])
    return Booking.objects.get(trip=trip)


def test_a_ticket_code_verifies_and_a_forged_one_does_not(booked):
    ticket = booked.tickets.select_related("allocation__seat__coach").first()
    client = APIClient()  # anyone: an inspector needs no account
    signed = ticket_signed_code(ticket)
    answer = client.get(f"/api/tickets/verify/{signed}/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["valid"] is True
    seat = ticket.allocation.seat
    assert body["ticket"]["code"] == ticket.code
    assert body["ticket"]["seat"] == f"{seat.coach.number}-{seat.number}"
    assert body["ticket"]["leg"] == "outbound" and body["ticket"]["state"] == "valid"
    assert body["ticket"]["train"] == ticket.allocation.departure.service_number

    forged = signed[:-3] + ("abc" if not signed.endswith("abc") else "xyz")
    assert client.get(f"/api/tickets/verify/{forged}/").status_code == 400
    other_code = ticket.code[:-1] + ("A" if ticket.code[-1] != "A" else "B")
    assert (
        client.get(f"/api/tickets/verify/{other_code}:{signed.split(':')[1]}/").status_code == 400
    )

    Ticket.objects.filter(pk=ticket.pk).update(state="cancelled", cancelled_at=booked.confirmed_at)
    cancelled = client.get(f"/api/tickets/verify/{signed}/").json()
    assert cancelled["valid"] is False and cancelled["ticket"]["state"] == "cancelled"

    ticket.code = "GONE"
    assert client.get(f"/api/tickets/verify/{ticket_signed_code(ticket)}/").status_code == 404


def test_a_return_trip_has_one_ticket_per_traveller_per_leg(stripe_sandbox):
    import datetime as dt

    from django.utils import timezone

    from booking.models import Station

    factories.passenger_types()
    olivia = factories.user("Olivia Organiser")
    out_day = timezone.localdate() + dt.timedelta(days=3)
    back_day = out_day + dt.timedelta(days=2)
    trip = factories.trip(organiser=olivia, days_ahead=3, return_from=back_day)
    ana = factories.member(trip, "Ana")
    paris, lyon = Station.objects.get(code="FRPLY"), Station.objects.get(code="FRLPD")
    train = factories.vehicle()
    for leg, day, origin, destination in (
        ("outbound", out_day, paris, lyon),
        ("return", back_day, lyon, paris),
    ):
        options = [
            factories.departure(
                origin=origin,
                destination=destination,
                vehicle_obj=train,
                departs_at=timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 5))),
            )
            for hour in (9, 15)
        ]
        plan.poll_propose(
            trip_id=trip.pk, by=olivia, leg=leg, departure_ids=[d.pk for d in options]
        )
        plan.poll_settle(trip_id=trip.pk, by=olivia, leg=leg, departure_id=options[0].pk)
        plan.sit_together(trip_id=trip.pk, user=olivia, leg=leg)

    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    for share in Share.objects.filter(checkout=checkout):
        items = list(share.items.all())
        assert len(items) == 2 and share.amount_cents == sum(i.amount_cents for i in items)
    pay(stripe_sandbox, checkout, ana, list(Share.objects.filter(checkout=checkout)))

    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    tickets = Ticket.objects.filter(booking__trip=trip)
    assert sorted((t.traveller_id, t.leg.direction) for t in tickets) == sorted(
        (user.pk, leg) for user in (olivia, ana) for leg in ("outbound", "return")
    )
    payment = Payment.objects.get(checkout=checkout)
    assert payment.amount_cents == sum(t.price_cents for t in tickets)


def test_a_payment_that_falls_while_capturing_books_nobody(stripe_sandbox, monkeypatch, settings):
    """A webhook (or the page) syncs a cancelled authorisation while the confirmation is
    capturing the others: the booking must not go through without that traveller, and
    their seat must not stay held for ever."""
    # The fake capture below writes to the database (the webhook's work), which a capture
    # on the gateway's own threads cannot see inside this test's transaction: one at a time.
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "STRIPE_CALLS_AT_ONCE": 1}
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    pay(stripe_sandbox, checkout, olivia, [share_of(checkout, olivia)])
    real_capture = gateway.payment_intent_capture
    fell = []

    def capture_then_ana_falls(intent_id, **kwargs):
        result = real_capture(intent_id, **kwargs)
        if not fell:
            # Between two captures, Stripe cancels Ana's authorisation and its webhook is
            # handled (payment_sync detaches her share).
            fell.append(True)
            payment = share_of(checkout, ana).payment
            status, _body = stripe_sandbox.request(
                "POST", f"/v1/payment_intents/{payment.stripe_payment_intent_id}/cancel", {}
            )
            assert status == 200
            services.payment_sync(payment_id=payment.pk)
        return result

    monkeypatch.setattr(gateway, "payment_intent_capture", capture_then_ana_falls)
    pay(stripe_sandbox, checkout, ana, [share_of(checkout, ana)])

    checkout.refresh_from_db()
    assert checkout.state == "open"
    assert not Ticket.objects.exists() and not Booking.objects.exists()
    assert share_of(checkout, ana).state == "unpaid"
    # What was captured at Stripe is captured here too (nothing lost); the seats wait for
    # the deadline again instead of never expiring.
    captured = Payment.objects.filter(checkout=checkout, state=Payment.State.CAPTURED)
    assert captured.count() == 1
    held = SeatAllocation.objects.filter(leg__trip=trip, state=AllocationState.HELD)
    assert held.count() == 2 and None not in {a.expires_at for a in held}


def test_a_groups_authorisations_are_checked_then_captured_side_by_side(
    stripe_sandbox, monkeypatch
):
    """The confirmation's Stripe calls (each authorisation read, then captured) run at the
    same time, not one after another: with every call slowed to 0.3 s, four payers are
    confirmed in far less than the 2.4 s of their eight calls in a row, each capture with
    its own payment's key, each intent captured once."""
    trip, travellers, _departure = factories.checkout_ready_trip(travellers=4)
    checkout = services.checkout_start(trip_id=trip.pk, by=travellers[0])
    for traveller in travellers[:3]:
        pay(stripe_sandbox, checkout, traveller, [share_of(checkout, traveller)])
    services.payment_start(
        checkout_id=checkout.pk,
        payer=travellers[3],
        share_ids=[share_of(checkout, travellers[3]).pk],
        payment_method=stripe_sandbox.card_payment_method(CARD_OK),
    )
    delay, lock = 0.3, threading.Lock()
    under_way, most_at_once, keys = [0], [0], []

    def slowed(call):
        def slow_call(intent_id, **kwargs):
            with lock:
                under_way[0] += 1
                most_at_once[0] = max(most_at_once[0], under_way[0])
                keys.extend(kwargs.values())
            try:
                time.sleep(delay)
                return call(intent_id, **kwargs)
            finally:
                with lock:
                    under_way[0] -= 1

        return slow_call

    for name in ("payment_intent_retrieve", "payment_intent_capture"):
        monkeypatch.setattr(gateway, name, slowed(getattr(gateway, name)))
    started = time.monotonic()
    tasks_run()  # the worker confirms
    took = time.monotonic() - started

    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    assert most_at_once[0] == 4
    assert took < 0.5 * 8 * delay, f"{took:.2f} s: the calls ran one after another"
    payments = Payment.objects.filter(checkout=checkout)
    assert sorted(keys) == sorted(p.idempotency_key("capture") for p in payments)
    assert [pi["status"] for pi in intents(stripe_sandbox, checkout).values()] == ["succeeded"] * 4
    assert Ticket.objects.filter(booking__trip=trip).count() == 4


def test_a_capture_refused_midway_keeps_what_was_captured_and_reopens(stripe_sandbox, monkeypatch):
    """Side by side, one capture refused: the others that went through are captured here
    too (money taken is never lost), the refused payment fails and its share is unpaid
    again, nobody is booked, and the checkout is open again."""
    trip, travellers, _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=travellers[0])
    for traveller in travellers[:2]:
        pay(stripe_sandbox, checkout, traveller, [share_of(checkout, traveller)])
    services.payment_start(
        checkout_id=checkout.pk,
        payer=travellers[2],
        share_ids=[share_of(checkout, travellers[2]).pk],
        payment_method=stripe_sandbox.card_payment_method(CARD_OK),
    )
    refused = Payment.objects.get(checkout=checkout, payer=travellers[1])
    real_capture = gateway.payment_intent_capture

    def capture(intent_id, **kwargs):
        if intent_id == refused.stripe_payment_intent_id:
            raise StripeError(stripe_code="amount_too_large", stripe_message="refused")
        return real_capture(intent_id, **kwargs)

    monkeypatch.setattr(gateway, "payment_intent_capture", capture)
    tasks_run()

    checkout.refresh_from_db()
    assert checkout.state == "open"
    assert not Booking.objects.filter(trip=trip).exists()
    states = dict(Payment.objects.filter(checkout=checkout).values_list("payer_id", "state"))
    assert states[travellers[1].pk] == "failed"
    assert share_of(checkout, travellers[1]).state == "unpaid"
    at_stripe = intents(stripe_sandbox, checkout)
    for payer in (travellers[0], travellers[2]):
        payment = Payment.objects.get(checkout=checkout, payer=payer)
        # What Stripe captured is captured here; a capture never started is still
        # authorised at Stripe and here (kept for the next confirmation).
        assert (
            payment.state
            == {
                "succeeded": "captured",
                "requires_capture": "authorised",
            }[at_stripe[payment.stripe_payment_intent_id]["status"]]
        )


@pytest.mark.django_db(transaction=True)
def test_the_worker_confirms_queued_checkouts_in_threads_each_once(stripe_sandbox, settings):
    """Several confirmations queued at once run side by side (PostgreSQL, outside a
    transaction: each thread its own connection): every one booked, each intent captured
    once, the threads' connections closed."""
    if connection.vendor != "postgresql":
        pytest.skip("confirmations run in threads only on PostgreSQL (skip_locked claims)")
    from payments import tasks

    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "PAYMENT_CONFIRM_THREADS": 3}
    checkouts = []
    for _ in range(3):
        trip, travellers, _departure = factories.checkout_ready_trip(travellers=2)
        checkout = services.checkout_start(trip_id=trip.pk, by=travellers[0])
        for traveller in travellers:
            services.payment_start(
                checkout_id=checkout.pk,
                payer=traveller,
                share_ids=[share_of(checkout, traveller).pk],
                payment_method=stripe_sandbox.card_payment_method(CARD_OK),
            )
        checkouts.append(checkout)
    assert {c.state for c in Checkout.objects.all()} == {Checkout.State.CONFIRMING}

    assert tasks.checkout_confirmations() == 3
    assert tasks.checkout_confirmations() == 0  # nothing left, nothing run twice

    for checkout in checkouts:
        checkout.refresh_from_db()
        assert checkout.state == Checkout.State.CONFIRMED
        assert Ticket.objects.filter(booking__trip=checkout.trip).count() == 2
        captured = list(intents(stripe_sandbox, checkout).values())
        assert len(captured) == 2
        assert all(pi["status"] == "succeeded" for pi in captured)
