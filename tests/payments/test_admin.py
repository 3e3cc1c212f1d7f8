"""Staff's admin of payments (payments/admin.py): a checkout's page shows its booking, its
shares, its PaymentIntents, the refunds and the webhook events about its PaymentIntents
(and not others'), with a "Reconcile this trip" button for staff who may; the Booking's
page links to the trip's checkouts. Against the Stripe sandbox, events delivered through
the webhook door."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from booking.models import Booking
from payments import selectors, services
from payments import stripe_gateway as gateway
from payments.models import Checkout, Payment, Refund, StripeEvent
from tests import factories
from tests.payments.conftest import tasks_run
from tests.payments.test_ticket_cancel_api import book_three, ticket_of
from tests.payments.test_webhooks import deliver, event_body, intent_read

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def superuser_client():
    staff = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-staff-1")
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def booked_with_history(stripe_sandbox):
    """A booked trip with a refund and webhook events about its payments, and an event
    about another application's PaymentIntent."""
    trip, checkout, olivia, _ana, _ben = book_three(stripe_sandbox)
    services.ticket_cancel(ticket_id=ticket_of(trip, olivia).pk, by=olivia)  # Flex: refund
    payment = Payment.objects.get(checkout=checkout, payer=olivia)
    intent = intent_read(stripe_sandbox, payment.stripe_payment_intent_id)
    for type_, obj in (
        ("payment_intent.succeeded", intent),
        ("charge.refunded", {"id": "ch_x", "payment_intent": intent["id"], "refunds": {}}),
        ("payment_intent.succeeded", {**intent, "id": "pi_not_ours", "metadata": {}}),
    ):
        assert deliver(stripe_sandbox, event_body(type_, obj)).status_code == 200
    return trip, checkout, payment


def test_a_checkouts_events_are_those_of_its_payment_intents(booked_with_history):
    _trip, checkout, payment = booked_with_history
    events = list(selectors.checkout_stripe_events(checkout_id=checkout.pk))
    assert [e.type for e in events] == ["payment_intent.succeeded", "charge.refunded"]
    assert StripeEvent.objects.filter(payload__object__id="pi_not_ours").exists()
    other = factories.checkout_ready_trip(travellers=1)[0]
    started = services.checkout_start(trip_id=other.pk, by=other.group.memberships.get().user)
    assert list(selectors.checkout_stripe_events(checkout_id=started.pk)) == []
    assert payment.stripe_payment_intent_id  # the one the events name


def test_the_checkout_page_shows_shares_intents_refunds_and_events(
    superuser_client, booked_with_history
):
    trip, checkout, payment = booked_with_history
    refund = Refund.objects.get(payment=payment)

    answer = superuser_client.get(reverse("admin:payments_checkout_change", args=[checkout.pk]))

    assert answer.status_code == 200
    page = answer.content.decode()
    booking = Booking.objects.get(trip=trip)
    assert reverse("admin:booking_booking_change", args=[booking.pk]) in page
    for intent in Payment.objects.filter(checkout=checkout).values_list(
        "stripe_payment_intent_id", flat=True
    ):
        assert intent in page
    assert refund.stripe_refund_id in page and refund.idempotency_key in page
    assert f"{refund.amount_cents / 100:.2f} EUR" in page
    assert "payment_intent.succeeded" in page and "charge.refunded" in page
    assert "pi_not_ours" not in page
    assert "data-reconcile-trip" in page  # a superuser may reconcile
    assert page.count('class="field-traveller"') == 3  # the three shares


def test_the_reconcile_button_repairs_the_pages_trip(superuser_client, stripe_sandbox):
    trip, (olivia, _ana), _departure = factories.checkout_ready_trip(travellers=2)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    share = checkout.shares.get(traveller=olivia)
    payment = services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=[share.pk],
        payment_method=stripe_sandbox.card_payment_method(),
    ).payment
    tasks_run()  # the worker: a queued confirmation runs
    # Cancelled at Stripe behind our back (the dashboard, an expiry): drift.
    gateway.payment_intent_cancel(
        payment.stripe_payment_intent_id, idempotency_key=payment.idempotency_key("cancel")
    )
    url = reverse("admin:payments_checkout_reconcile", args=[checkout.pk])

    assert superuser_client.get(url).status_code == 405  # only a POST repairs
    answer = superuser_client.post(url, follow=True)

    assert answer.status_code == 200
    shown = [str(m) for m in answer.context["messages"]]
    assert f"checkout {checkout.pk}: payment {payment.pk} " in shown[0]
    payment.refresh_from_db()
    share.refresh_from_db()
    assert (payment.state, share.state) == ("failed", "unpaid")
    again = superuser_client.post(url, follow=True)
    assert [str(m) for m in again.context["messages"]] == [
        "Stripe and our records agree: nothing changed."
    ]


def test_staff_who_may_only_view_see_the_page_without_reconciling(stripe_sandbox):
    trip, (olivia,), _departure = factories.checkout_ready_trip(travellers=1)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    viewer = factories.user("Vera Viewer")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="payments", codename="view_checkout")
    )
    client = Client()
    client.force_login(viewer)

    page = client.get(reverse("admin:payments_checkout_change", args=[checkout.pk]))
    assert page.status_code == 200 and "data-reconcile-trip" not in page.content.decode()
    refused = client.post(reverse("admin:payments_checkout_reconcile", args=[checkout.pk]))
    assert refused.status_code == 403
    assert Checkout.objects.get(pk=checkout.pk).state == "open"


def test_the_booking_page_links_to_the_trips_checkouts(superuser_client, stripe_sandbox):
    trip, checkout, *_people = book_three(stripe_sandbox)
    booking = Booking.objects.get(trip=trip)

    page = superuser_client.get(reverse("admin:booking_booking_change", args=[booking.pk]))

    assert page.status_code == 200
    link = f"{reverse('admin:payments_checkout_changelist')}?trip__id__exact={trip.pk}"
    assert f'href="{link}"' in page.content.decode()
    listed = superuser_client.get(link)
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [checkout]


def test_the_other_payment_pages_render(superuser_client, booked_with_history):
    _trip, checkout, payment = booked_with_history
    event = StripeEvent.objects.filter(payload__object__id=payment.stripe_payment_intent_id).first()
    refund = Refund.objects.get(payment=payment)
    for url in (
        reverse("admin:payments_checkout_changelist"),
        reverse("admin:payments_payment_changelist"),
        reverse("admin:payments_payment_change", args=[payment.pk]),
        reverse("admin:payments_refund_changelist"),
        reverse("admin:payments_refund_change", args=[refund.pk]),
        reverse("admin:payments_stripeevent_changelist"),
        reverse("admin:payments_stripeevent_change", args=[event.pk]),
        reverse("admin:payments_shareitem_changelist"),
    ):
        assert superuser_client.get(url).status_code == 200, url
    assert (
        str(checkout.pk)
        in superuser_client.get(reverse("admin:payments_checkout_changelist")).content.decode()
    )
