"""Stripe's webhook while the checkout is locked elsewhere longer than the lock timeout
(core/locking.py): the request only stores the event (no lock of the checkout), so it
answers at once; the worker's pass meets the lock, gives up after the lock timeout with
nothing moved, and a later pass handles the event.

Needs PostgreSQL (DATABASE_URL): SQLite has no lock timeout.
"""

import pytest

from payments import tasks
from payments.models import Payment, Share, StripeEvent
from tests.payments.test_webhooks import (
    authorise_at_stripe,
    checkout_started,
    deliver,
    event_body,
    payment_without_page,
)
from tests.pg import on_postgres, row_locked

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not on_postgres, reason="needs PostgreSQL (DATABASE_URL): lock timeouts"),
    pytest.mark.django_db(transaction=True),
]


def test_an_event_for_a_checkout_locked_elsewhere_is_stored_then_handled_after_the_lock(
    stripe_sandbox,
):
    checkout, (olivia, _ana, _ben) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    intent = authorise_at_stripe(stripe_sandbox, payment)
    body = event_body("payment_intent.amount_capturable_updated", intent)

    with row_locked(checkout):
        answer = deliver(stripe_sandbox, body)
        assert answer.status_code == 200  # stored, not handled in Stripe's request
        tasks.stripe_events_handle()  # the worker meets the lock: nothing moves
        assert Payment.objects.get(pk=payment.pk).state == "created"
        assert StripeEvent.objects.get().handled_at is None

    StripeEvent.objects.update(next_attempt_at=None)  # its retry is due now
    tasks.stripe_events_handle()

    assert Payment.objects.get(pk=payment.pk).state == "authorised"
    assert Share.objects.get(checkout=checkout, traveller=olivia).state == "authorised"
    assert StripeEvent.objects.get().handled_at is not None
