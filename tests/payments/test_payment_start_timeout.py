"""A payment started and never authorised (no card given, a tab closed between "start" and
the card, a bank check never finished) frees its shares after
``PAYMENT_START_TIMEOUT_SECONDS``, by the worker (``payments.tasks.payment_starts_expire``):
one payer, or a forwarded pay link, cannot hold a whole group until the deadline. Against
the Stripe sandbox."""

import datetime as dt

import pytest
from django.utils import timezone

from payments import services, tasks
from payments import stripe_gateway as gateway
from payments.models import Payment, Share
from payments.reconcile import reconcile
from tests import factories
from tests.payments.conftest import tasks_run

pytestmark = pytest.mark.django_db

TIMEOUT = 600


@pytest.fixture
def started(stripe_sandbox, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "PAYMENT_START_TIMEOUT_SECONDS": TIMEOUT}
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    shares = {u: Share.objects.get(checkout=checkout, traveller=u) for u in (olivia, ana, ben)}
    # Ana opens a forwarded link and "pays" for everyone, but never gives a card.
    payment = services.payment_start(
        checkout_id=checkout.pk, payer=ana, share_ids=[s.pk for s in shares.values()]
    ).payment
    assert payment.state == "created"
    return checkout, (olivia, ana, ben), shares, payment


def later(seconds: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def test_a_payment_never_authorised_frees_every_share_it_held_after_the_timeout(
    started, stripe_sandbox
):
    checkout, (olivia, _ana, _ben), shares, payment = started

    assert tasks.payment_starts_expire(now=later(TIMEOUT - 30)) == 0  # not yet
    assert Share.objects.filter(payment=payment).count() == 3

    assert tasks.payment_starts_expire(now=later(TIMEOUT + 5)) == 1

    payment.refresh_from_db()
    assert payment.state == "cancelled" and payment.last_error == "not authorised in time"
    assert set(Share.objects.filter(checkout=checkout).values_list("state", "payment")) == {
        ("unpaid", None)
    }
    intent = gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
    assert intent.status == "canceled"
    # Twice: nothing more (the payment moved on).
    assert tasks.payment_starts_expire(now=later(TIMEOUT + 60)) == 0
    # Anyone may pay the freed shares now.
    again = services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=[shares[olivia].pk],
        payment_method=stripe_sandbox.card_payment_method(),
    )
    assert again.payment.state == "authorised"


def test_a_card_that_came_just_in_time_is_kept(started, stripe_sandbox):
    checkout, _users, _shares, payment = started
    # The payer's page confirmed the card with Stripe.js; its sync never reached us.
    card = stripe_sandbox.card_payment_method()
    intent_id = payment.stripe_payment_intent_id
    stripe_sandbox.request("POST", f"/v1/payment_intents/{intent_id}", {"payment_method": card})
    status, body = stripe_sandbox.request("POST", f"/v1/payment_intents/{intent_id}/confirm", {})
    assert (status, body["status"]) == (200, "requires_capture")

    assert tasks.payment_starts_expire(now=later(TIMEOUT + 5)) == 0

    payment.refresh_from_db()
    assert payment.state == "authorised"
    assert gateway.payment_intent_retrieve(intent_id).status == "requires_capture"
    tasks_run()  # every share was in it: the booking is confirmed
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"


def test_reconcile_repairs_a_cancel_whose_commit_was_lost(started, stripe_sandbox, monkeypatch):
    checkout, _users, _shares, payment = started

    def cancelled_then_killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after Stripe's cancel, before our commit

    monkeypatch.setattr(services, "_detach", cancelled_then_killed)
    with pytest.raises(KeyboardInterrupt):
        tasks.payment_starts_expire(now=later(TIMEOUT + 5))
    monkeypatch.undo()
    assert gateway.payment_intent_retrieve(payment.stripe_payment_intent_id).status == "canceled"
    assert Payment.objects.get(pk=payment.pk).state == "created"

    reconcile(trip_id=checkout.trip_id)

    assert Payment.objects.get(pk=payment.pk).state == "failed"
    assert set(Share.objects.filter(checkout=checkout).values_list("state", "payment")) == {
        ("unpaid", None)
    }
