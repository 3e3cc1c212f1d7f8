"""Stripe webhooks (``POST /payments/stripe/webhook/``) against the Stripe sandbox.

The PaymentIntents are real (localstripe behind our idempotency layer); the events that
carry them are signed here with the webhook secret exactly as Stripe signs
(``t=<timestamp>,v1=<HMAC-SHA256 of "<timestamp>.<body>">``), so a test chooses their
order and replays them. Cards are authorised at the sandbox the way the pay page's
Stripe.js does (the payment method set on the intent, then confirmed), so our payment
only learns about it from the event."""

import copy
import hashlib
import hmac
import json
import random
import time
import uuid

import pytest
from django.test import Client

from booking.models import Booking, Ticket
from payments import services
from payments import stripe_gateway as gateway
from payments.errors import StripeUnavailable
from payments.models import Checkout, Payment, Refund, Share, StripeEvent
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db

URL = "/payments/stripe/webhook/"


# --- Helpers -----------------------------------------------------------------------------


def signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_body(type_: str, obj: dict, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "type": type_,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def deliver(sandbox, body: bytes, sign: str | None = None, *, work: bool = True):
    """POST as Stripe does: no cookie, no CSRF token, the signature header; then, with
    ``work``, one pass of the worker's tasks (the event is handled off the request)."""
    client = Client(enforce_csrf_checks=True)
    header = signature(body, sandbox.webhook_secret) if sign is None else sign
    answer = client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    if work:
        tasks_run()
    return answer


def intent_read(sandbox, intent_id: str) -> dict:
    status, body = sandbox.request("GET", f"/v1/payment_intents/{intent_id}")
    assert status == 200, body
    return body


def authorise_at_stripe(sandbox, payment: Payment) -> dict:
    """What the payer's page does with Stripe.js: a card on the intent, confirmed."""
    pm = sandbox.card_payment_method()
    intent_id = payment.stripe_payment_intent_id
    status, body = sandbox.request(
        "POST", f"/v1/payment_intents/{intent_id}", {"payment_method": pm}
    )
    assert status == 200, body
    status, body = sandbox.request("POST", f"/v1/payment_intents/{intent_id}/confirm", {})
    assert status == 200 and body["status"] == "requires_capture", body
    return body


def checkout_started(travellers=3):
    trip, users, _departure = factories.checkout_ready_trip(travellers=travellers)
    checkout = services.checkout_start(trip_id=trip.pk, by=users[0])
    return checkout, users


def payment_without_page(checkout, payer) -> Payment:
    """A payment whose intent waits for the payer's page (never told back here)."""
    share = Share.objects.get(checkout=checkout, traveller=payer)
    started = services.payment_start(checkout_id=checkout.pk, payer=payer, share_ids=[share.pk])
    assert started.payment.state == "created"
    return started.payment


def state(checkout) -> dict:
    """Everything a webhook may move, for one checkout."""
    checkout.refresh_from_db()
    return {
        "checkout": checkout.state,
        "shares": sorted(Share.objects.filter(checkout=checkout).values_list("pk", "state")),
        "payments": sorted(Payment.objects.filter(checkout=checkout).values_list("pk", "state")),
        "tickets": sorted(
            Ticket.objects.filter(booking__trip_id=checkout.trip_id).values_list(
                "traveller_id", "leg_id", "allocation_id"
            )
        ),
    }


def captured_once(sandbox, payment: Payment) -> bool:
    intent = intent_read(sandbox, payment.stripe_payment_intent_id)
    return (
        intent["status"] == "succeeded"
        and intent["amount_received"] == payment.amount_cents
        and intent["charges"]["total_count"] == 1
    )


# --- Refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body, secret: signature(body, "whsec_someone_else"), id="forged"),
        pytest.param(lambda body, secret: "", id="unsigned"),
        pytest.param(
            lambda body, secret: signature(body, secret, int(time.time()) - 3600), id="old"
        ),
        pytest.param(
            lambda body, secret: signature(body, secret, int(time.time()) + 3600), id="future"
        ),
        pytest.param(
            lambda body, secret: signature(body.replace(b"requires_capture", b"succeeded"), secret),
            id="tampered",
        ),
    ],
)
def test_a_forged_unsigned_old_future_or_tampered_event_is_400_and_changes_nothing(
    forge, stripe_sandbox
):
    checkout, (olivia, *_others) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    intent = authorise_at_stripe(stripe_sandbox, payment)
    body = event_body("payment_intent.amount_capturable_updated", intent)
    before = state(checkout)

    answer = deliver(stripe_sandbox, body, sign=forge(body, stripe_sandbox.webhook_secret))

    assert answer.status_code == 400
    assert StripeEvent.objects.count() == 0
    assert state(checkout) == before


def test_no_secret_configured_refuses_every_event(stripe_sandbox, settings):
    body = event_body("payment_intent.succeeded", {"id": "pi_nobody", "object": "payment_intent"})
    header = signature(body, stripe_sandbox.webhook_secret)
    settings.STRIPE_WEBHOOK_SECRET = ""

    assert deliver(stripe_sandbox, body, sign=header).status_code == 400
    assert StripeEvent.objects.count() == 0


def test_only_post_is_accepted(stripe_sandbox):
    assert Client().get(URL).status_code == 405


def test_a_signature_a_little_ahead_of_our_clock_is_accepted(stripe_sandbox):
    body = event_body("customer.created", {"id": "cus_1", "object": "customer"})
    header = signature(body, stripe_sandbox.webhook_secret, int(time.time()) + 30)

    assert deliver(stripe_sandbox, body, sign=header).status_code == 200


# --- Answered at once; the worker does the work --------------------------------------------


def test_the_last_authorisation_is_answered_without_a_stripe_call_and_the_worker_books(
    stripe_sandbox, monkeypatch
):
    checkout, users = checkout_started(travellers=3)
    payments = [payment_without_page(checkout, user) for user in users]
    bodies = [
        event_body(
            "payment_intent.amount_capturable_updated", authorise_at_stripe(stripe_sandbox, p)
        )
        for p in payments
    ]
    stripe_calls = []
    client = gateway._client

    def counted_client():
        stripe_calls.append(1)
        return client()

    monkeypatch.setattr(gateway, "_client", counted_client)
    answers = [deliver(stripe_sandbox, body, work=False) for body in bodies]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert stripe_calls == []  # nothing asked of Stripe inside Stripe's requests
    assert state(checkout)["checkout"] == "open"
    assert StripeEvent.objects.filter(handled_at=None).count() == 3

    assert tasks_run() == 4  # three events, then the confirmation they queued
    final = state(checkout)
    assert final["checkout"] == "confirmed" and len(final["tickets"]) == 3
    assert all(captured_once(stripe_sandbox, p) for p in payments)
    # 3 reads for the events and 3 of the cards they were authorised with (for the
    # receipts), then 3 checks and 3 captures: all in the worker.
    assert len(stripe_calls) == 12
    assert StripeEvent.objects.filter(handled_at=None).count() == 0
    assert tasks_run() == 0  # nothing left: a second worker pass does nothing


def test_a_failing_event_is_retried_with_backoff_then_handled(stripe_sandbox, monkeypatch):
    from payments import tasks

    checkout, (olivia, *_others) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    body = event_body(
        "payment_intent.amount_capturable_updated", authorise_at_stripe(stripe_sandbox, payment)
    )

    def unreachable(*args, **kwargs):
        raise StripeUnavailable()

    monkeypatch.setattr(gateway, "payment_intent_retrieve", unreachable)
    assert deliver(stripe_sandbox, body).status_code == 200  # answered: the work failed later
    event = StripeEvent.objects.get()
    assert (event.handled_at, event.attempts) == (None, 1) and event.error
    first_retry = event.next_attempt_at
    assert tasks.stripe_events_handle() == 0  # not due again yet
    tasks.stripe_events_handle(now=first_retry)
    event.refresh_from_db()
    assert event.attempts == 2
    assert event.next_attempt_at - first_retry == 2 * tasks.EVENT_RETRY  # twice as long

    monkeypatch.undo()
    assert tasks.stripe_events_handle(now=event.next_attempt_at) == 1
    event.refresh_from_db()
    assert event.handled_at is not None and event.error == ""
    payment.refresh_from_db()
    assert payment.state == "authorised"


# --- Handled -------------------------------------------------------------------------------


def test_an_authorisation_event_alone_authorises_the_payment(stripe_sandbox):
    checkout, (olivia, ana, _ben) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    intent = authorise_at_stripe(stripe_sandbox, payment)
    body = event_body("payment_intent.amount_capturable_updated", intent)

    answer = deliver(stripe_sandbox, body)

    assert answer.status_code == 200
    payment.refresh_from_db()
    assert payment.state == "authorised" and payment.authorised_at is not None
    assert Share.objects.get(checkout=checkout, traveller=olivia).state == "authorised"
    assert Share.objects.get(checkout=checkout, traveller=ana).state == "unpaid"
    event = StripeEvent.objects.get()
    assert event.type == "payment_intent.amount_capturable_updated"
    assert event.handled_at is not None and event.error == ""
    assert event.payload["object"]["id"] == intent["id"]


def test_an_event_never_trusts_its_content_it_reads_the_intent_again(stripe_sandbox):
    checkout, (olivia, *_others) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    intent = authorise_at_stripe(stripe_sandbox, payment)
    # Signed by Stripe, but the capture it announces has not happened (an event about a
    # later state delivered before it, or stale data): Stripe says requires_capture.
    lying = dict(intent, status="succeeded", amount_received=intent["amount"])

    assert deliver(stripe_sandbox, event_body("payment_intent.succeeded", lying)).status_code == 200

    payment.refresh_from_db()
    assert payment.state == "authorised"  # forward, to what Stripe says: not captured


def test_a_cancelled_intent_event_frees_the_share_for_another_payment(stripe_sandbox):
    checkout, (olivia, *_others) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    authorise_at_stripe(stripe_sandbox, payment)
    deliver(
        stripe_sandbox,
        event_body(
            "payment_intent.amount_capturable_updated",
            intent_read(stripe_sandbox, payment.stripe_payment_intent_id),
        ),
    )
    cancelled = gateway.payment_intent_cancel(
        payment.stripe_payment_intent_id, idempotency_key=f"test-{uuid.uuid4()}"
    )
    assert cancelled.status == "canceled"

    body = event_body(
        "payment_intent.canceled", intent_read(stripe_sandbox, payment.stripe_payment_intent_id)
    )
    assert deliver(stripe_sandbox, body).status_code == 200

    payment.refresh_from_db()
    share = Share.objects.get(checkout=checkout, traveller=olivia)
    assert payment.state == "failed" and (share.state, share.payment_id) == ("unpaid", None)


def test_the_same_event_ten_times_is_stored_once_and_changes_nothing_more(stripe_sandbox):
    checkout, users = checkout_started()
    payments = [payment_without_page(checkout, user) for user in users]
    bodies = [
        event_body(
            "payment_intent.amount_capturable_updated", authorise_at_stripe(stripe_sandbox, p)
        )
        for p in payments
    ]

    for _ in range(10):
        assert deliver(stripe_sandbox, bodies[0]).status_code == 200
    after_first = state(checkout)
    assert [p for _pk, p in after_first["payments"]] == ["authorised", "created", "created"]
    for body in bodies[1:]:
        assert deliver(stripe_sandbox, body).status_code == 200
    final = state(checkout)
    for _ in range(10):
        for body in bodies:
            assert deliver(stripe_sandbox, body).status_code == 200

    assert state(checkout) == final
    assert final["checkout"] == "confirmed" and len(final["tickets"]) == 3
    assert StripeEvent.objects.count() == 3
    assert StripeEvent.objects.filter(handled_at=None).count() == 0
    assert all(captured_once(stripe_sandbox, p) for p in payments)


ORDERS = {
    "in-order": None,
    "reversed": "reversed",
    "captures-first": "captures-first",
    "shuffled-1": 1,
    "shuffled-2": 2,
    "shuffled-3": 3,
}


@pytest.mark.parametrize("order", list(ORDERS.values()), ids=list(ORDERS))
def test_events_in_any_order_reach_the_same_final_state(order, stripe_sandbox):
    checkout, users = checkout_started()
    payments = [payment_without_page(checkout, user) for user in users]
    # The real sequence of one checkout: three authorisations, then three captures.
    intents = [authorise_at_stripe(stripe_sandbox, p) for p in payments]
    events = [event_body("payment_intent.amount_capturable_updated", i) for i in intents]
    for intent in intents:
        # What Stripe sends after the capture (the handler reads the intent again anyway).
        captured = copy.deepcopy(intent)
        captured.update(status="succeeded", amount_capturable=0, amount_received=intent["amount"])
        events.append(event_body("payment_intent.succeeded", captured))
    if order == "reversed":
        events.reverse()
    elif order == "captures-first":
        events = events[3:] + events[:3]
    elif order is not None:
        random.Random(order).shuffle(events)

    for body in events:
        assert deliver(stripe_sandbox, body).status_code == 200

    final = state(checkout)
    assert final["checkout"] == "confirmed"
    assert [s for _pk, s in final["shares"]] == ["captured"] * 3
    assert [p for _pk, p in final["payments"]] == ["captured"] * 3
    assert sorted(t[0] for t in final["tickets"]) == sorted(u.pk for u in users)
    assert all(captured_once(stripe_sandbox, p) for p in payments)
    assert StripeEvent.objects.filter(handled_at__isnull=False).count() == 6


def test_an_unknown_type_is_stored_and_answered_200(stripe_sandbox):
    body = event_body("customer.created", {"id": "cus_123", "object": "customer"}, "evt_unknown1")

    assert deliver(stripe_sandbox, body).status_code == 200

    event = StripeEvent.objects.get(event_id="evt_unknown1")
    assert event.type == "customer.created" and event.handled_at is not None


def test_an_intent_that_is_not_ours_is_stored_and_answered_200(stripe_sandbox):
    intent = gateway.payment_intent_create(
        amount_cents=1234,
        currency="EUR",
        metadata={"elsewhere": "yes"},
        idempotency_key=f"test-{uuid.uuid4()}",
    )
    body = event_body("payment_intent.canceled", intent_read(stripe_sandbox, intent.id))

    assert deliver(stripe_sandbox, body).status_code == 200

    assert StripeEvent.objects.get().handled_at is not None
    assert Payment.objects.count() == 0


def test_an_intent_whose_id_was_not_saved_is_found_by_its_metadata(stripe_sandbox):
    checkout, (olivia, *_others) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    intent = authorise_at_stripe(stripe_sandbox, payment)
    # As if the process had stopped between creating the intent and saving its id.
    Payment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id=None)

    deliver(stripe_sandbox, event_body("payment_intent.amount_capturable_updated", intent))

    payment.refresh_from_db()
    assert (payment.stripe_payment_intent_id, payment.state) == (intent["id"], "authorised")


def charge_id(intent: dict) -> str:
    charge = intent["latest_charge"]
    return charge["id"] if isinstance(charge, dict) else charge


def _confirmed_checkout(sandbox) -> Checkout:
    checkout, users = checkout_started()
    for user in users:
        services.payment_start(
            checkout_id=checkout.pk,
            payer=user,
            share_ids=[Share.objects.get(checkout=checkout, traveller=user).pk],
            payment_method=sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    return checkout


def test_a_dispute_flags_the_booking_for_staff(stripe_sandbox):
    checkout = _confirmed_checkout(stripe_sandbox)
    payment = Payment.objects.filter(checkout=checkout).first()
    intent = intent_read(stripe_sandbox, payment.stripe_payment_intent_id)
    dispute = {
        "id": "dp_" + uuid.uuid4().hex[:14],
        "object": "dispute",
        "amount": payment.amount_cents,
        "charge": charge_id(intent),
        "payment_intent": intent["id"],
        "reason": "fraudulent",
        "status": "needs_response",
    }
    before = state(checkout)

    assert deliver(stripe_sandbox, event_body("charge.dispute.created", dispute)).status_code == 200

    booking = Booking.objects.get(trip_id=checkout.trip_id)
    assert booking.disputed is True
    assert state(checkout) == before  # the tickets stay valid until staff decide
    assert set(Ticket.objects.filter(booking=booking).values_list("state", flat=True)) == {"valid"}


def test_a_refund_event_confirms_our_pending_refund(stripe_sandbox):
    checkout = _confirmed_checkout(stripe_sandbox)
    payment = Payment.objects.filter(checkout=checkout).first()
    key = f"test-{uuid.uuid4()}"
    refund = gateway.refund_create(
        payment_intent_id=payment.stripe_payment_intent_id, amount_cents=500, idempotency_key=key
    )
    Refund.objects.create(
        payment=payment, amount_cents=500, stripe_refund_id=refund.id, idempotency_key=key
    )
    charge = intent_read(stripe_sandbox, payment.stripe_payment_intent_id)["latest_charge"]
    if isinstance(charge, str):  # not expanded
        _status, charge = stripe_sandbox.request("GET", f"/v1/charges/{charge}")
    assert [r["id"] for r in charge["refunds"]["data"]] == [refund.id]

    assert deliver(stripe_sandbox, event_body("charge.refunded", charge)).status_code == 200

    assert Refund.objects.get().state == "succeeded"
    assert StripeEvent.objects.get().handled_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_delivers_its_own_events_to_our_endpoint(stripe_sandbox, live_server):
    """End to end: localstripe signs and POSTs the authorisation event to the running
    site; the payment is authorised without the page ever reporting back."""
    checkout, (olivia, *_others) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    stripe_sandbox.webhook_register(
        live_server.url + URL,
        events=["payment_intent.amount_capturable_updated"],
        id="webhooks-test",
    )
    try:
        authorise_at_stripe(stripe_sandbox, payment)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            tasks_run()  # the worker
            payment.refresh_from_db()
            if payment.state == "authorised":
                break
            time.sleep(0.2)
    finally:
        stripe_sandbox.webhook_register("http://127.0.0.1:9/", events=[], id="webhooks-test")

    assert payment.state == "authorised"
    event = StripeEvent.objects.get(payload__object__id=payment.stripe_payment_intent_id)
    assert event.type == "payment_intent.amount_capturable_updated"
    assert event.handled_at is not None


class ProcessKilled(BaseException):
    """Stands for a kill between a capture at Stripe and our commit."""


def test_a_capture_event_after_a_crash_finishes_the_confirmation(stripe_sandbox, monkeypatch):
    checkout, users = checkout_started()
    capture = gateway.payment_intent_capture
    first: list[dict] = []

    def capture_then_crash(*args, **kwargs):
        answer = capture(*args, **kwargs)
        first.append(answer.id)
        raise ProcessKilled()

    for user in users[:2]:
        services.payment_start(
            checkout_id=checkout.pk,
            payer=user,
            share_ids=[Share.objects.get(checkout=checkout, traveller=user).pk],
            payment_method=stripe_sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    monkeypatch.setattr(gateway, "payment_intent_capture", capture_then_crash)
    with pytest.raises(ProcessKilled):
        services.payment_start(
            checkout_id=checkout.pk,
            payer=users[2],
            share_ids=[Share.objects.get(checkout=checkout, traveller=users[2]).pk],
            payment_method=stripe_sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    monkeypatch.undo()
    assert state(checkout)["checkout"] == "confirming"

    # Stripe announces the capture that happened.
    body = event_body("payment_intent.succeeded", intent_read(stripe_sandbox, first[0]))
    assert deliver(stripe_sandbox, body).status_code == 200

    final = state(checkout)
    assert final["checkout"] == "confirmed" and len(final["tickets"]) == 3
    payments = list(Payment.objects.filter(checkout=checkout))
    assert [p.state for p in payments] == ["captured"] * 3
    assert all(captured_once(stripe_sandbox, p) for p in payments)


def test_a_cancellation_during_confirmation_reopens_the_checkout_charging_nobody(
    stripe_sandbox, monkeypatch
):
    checkout, users = checkout_started()

    def crash_before_capture(*args, **kwargs):
        raise ProcessKilled()

    for user in users[:2]:
        services.payment_start(
            checkout_id=checkout.pk,
            payer=user,
            share_ids=[Share.objects.get(checkout=checkout, traveller=user).pk],
            payment_method=stripe_sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    monkeypatch.setattr(gateway, "payment_intent_capture", crash_before_capture)
    with pytest.raises(ProcessKilled):
        services.payment_start(
            checkout_id=checkout.pk,
            payer=users[2],
            share_ids=[Share.objects.get(checkout=checkout, traveller=users[2]).pk],
            payment_method=stripe_sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    monkeypatch.undo()
    assert state(checkout)["checkout"] == "confirming"
    fallen = Payment.objects.get(checkout=checkout, payer=users[1])
    gateway.payment_intent_cancel(
        fallen.stripe_payment_intent_id, idempotency_key=f"test-{uuid.uuid4()}"
    )

    body = event_body(
        "payment_intent.canceled", intent_read(stripe_sandbox, fallen.stripe_payment_intent_id)
    )
    assert deliver(stripe_sandbox, body).status_code == 200

    final = state(checkout)
    assert final["checkout"] == "open" and final["tickets"] == []
    fallen.refresh_from_db()
    assert fallen.state == "failed"
    assert Share.objects.get(checkout=checkout, traveller=users[1]).state == "unpaid"
    for payment in Payment.objects.filter(checkout=checkout).exclude(pk=fallen.pk):
        assert intent_read(stripe_sandbox, payment.stripe_payment_intent_id)["amount_received"] == 0
