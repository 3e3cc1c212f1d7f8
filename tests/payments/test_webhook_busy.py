"""Stripe's webhook while the checkout is locked elsewhere longer than the lock timeout
(core/locking.py): 503 with ``Retry-After``, so Stripe delivers the event again; nothing
moved, and the next delivery handles it.

Needs PostgreSQL (DATABASE_URL): SQLite has no lock timeout.
"""

import pytest

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


def test_an_event_for_a_checkout_locked_elsewhere_is_503_then_handled_on_retry(stripe_sandbox):
    checkout, (olivia, _ana, _ben) = checkout_started()
    payment = payment_without_page(checkout, olivia)
    intent = authorise_at_stripe(stripe_sandbox, payment)
    body = event_body("payment_intent.amount_capturable_updated", intent)

    with row_locked(checkout):
        answer = deliver(stripe_sandbox, body)

    assert answer.status_code == 503
    assert answer["Retry-After"] == "1"
    assert Payment.objects.get(pk=payment.pk).state == "created"
    assert StripeEvent.objects.get().handled_at is None

    retried = deliver(stripe_sandbox, body)

    assert retried.status_code == 200
    assert Payment.objects.get(pk=payment.pk).state == "authorised"
    assert Share.objects.get(checkout=checkout, traveller=olivia).state == "authorised"
    assert StripeEvent.objects.get().handled_at is not None
