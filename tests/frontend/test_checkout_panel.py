"""The trip page's checkout panel alone (frontend/views_pay.checkout_panel), which plan.js
fetches and swaps in when the live plan hears a payment event: it follows the checkout
(start form, everyone's status, the viewer's pay link, the tickets) without a reload; the
same access rule as the trip page. And the contract with plan.js: every event the
payments record on the trip's log is one plan.js refreshes the panel for."""

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from booking.models import Ticket, TripEvent
from payments import services
from payments.models import Share
from payments.selectors import pay_link_read
from tests import factories
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process, tasks_run  # noqa: F401

pytestmark = pytest.mark.django_db

PLAN_JS = Path(__file__).resolve().parents[2] / "frontend" / "static" / "frontend" / "plan.js"


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def panel(user, trip):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(reverse("trip_checkout_panel", args=[trip.pk]))


def statuses(html: str) -> dict[int, str]:
    return {
        int(user_id): status
        for user_id, status in re.findall(r'data-traveller="(\d+)" data-status="(\w+)"', html)
    }


def plan_js_set(name: str) -> set[str]:
    match = re.search(rf"const {name} = new Set\(\[(.*?)\]\)", PLAN_JS.read_text(), re.S)
    assert match, f"{name} not found in plan.js"
    return set(re.findall(r'"(\w+)"', match.group(1)))


def test_the_trip_page_has_the_panel_and_where_to_fetch_it():
    trip, (olivia, ana, _ben), _departure = factories.checkout_ready_trip(travellers=3)
    client = Client()
    client.force_login(ana)
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    url = reverse("trip_checkout_panel", args=[trip.pk])
    # Before checkout a member's panel is there, empty and hidden, ready to be filled.
    assert re.search(rf'data-checkout-panel data-checkout-panel-url="{url}" hidden>', page)
    assert "data-checkout-start" in panel(olivia, trip).content.decode()  # the organiser's


def test_the_panel_follows_the_checkout_without_a_reload(stripe_sandbox):  # noqa: F811
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    assert "data-checkout-start" not in panel(ana, trip).content.decode()

    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    html = panel(ana, trip).content.decode()
    assert "data-checkout " in html and "data-countdown" in html
    assert statuses(html) == {olivia.pk: "unpaid", ana.pk: "unpaid", ben.pk: "unpaid"}
    # Ana's own pay link (its token carries the second it was signed: read it back).
    mine = re.search(r'href="/pay/([^/"]+)/" data-pay-mine', html)
    assert mine is not None
    link = pay_link_read(token=mine.group(1))
    assert (link.checkout.pk, link.payer.pk) == (checkout.pk, ana.pk)
    assert "Pay my share" in html

    shares = {s.traveller_id: s.pk for s in Share.objects.filter(checkout=checkout)}
    services.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=[shares[olivia.pk], shares[ana.pk]],  # Olivia covers Ana
        payment_method=stripe_sandbox.card_payment_method(),
    )
    tasks_run()  # the worker: a queued confirmation runs
    html = panel(ana, trip).content.decode()
    assert statuses(html) == {olivia.pk: "paid", ana.pk: "paid", ben.pk: "unpaid"}
    # The one covered is told who covered her (so she can pay her back).
    assert f"Paid by {olivia.profile.display_name}" in html and "Pay my share" not in html

    services.payment_start(
        checkout_id=checkout.pk,
        payer=ben,
        share_ids=[shares[ben.pk]],
        payment_method=stripe_sandbox.card_payment_method(),
    )
    tasks_run()  # the worker: a queued confirmation runs
    html = panel(ana, trip).content.decode()
    ticket = Ticket.objects.get(booking__trip=trip, traveller=ana)
    assert f'data-ticket="{ticket.code}"' in html and "data-countdown" not in html


def test_the_panel_is_for_the_trips_travellers_only():
    trip, (olivia, _ana, _ben), _departure = factories.checkout_ready_trip(travellers=3)
    services.checkout_start(trip_id=trip.pk, by=olivia)
    assert panel(factories.user("Sam Stranger"), trip).status_code == 404
    anonymous = panel(None, trip)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_plan_js_refreshes_the_panel_for_every_payment_event(stripe_sandbox):  # noqa: F811
    """Every kind the payments write on the trip's log, from the start to a ticket
    cancelled, is one plan.js handles (a kind it does not know would leave the panel
    stale); those it applies without a snapshot change nothing of the plan."""
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    before = trip.version
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    shares = {s.traveller_id: s.pk for s in Share.objects.filter(checkout=checkout)}
    for user in (olivia, ana):
        services.payment_start(
            checkout_id=checkout.pk,
            payer=user,
            share_ids=[shares[user.pk]],
            payment_method=stripe_sandbox.card_payment_method(),
        )
        tasks_run()  # the worker: a queued confirmation runs
    services.ticket_cancel(
        ticket_id=Ticket.objects.get(booking__trip=trip, traveller=ana).pk, by=ana
    )

    kinds = set(
        TripEvent.objects.filter(trip=trip, version__gt=before).values_list("kind", flat=True)
    )
    assert {"checkout_started", "shares_changed", "booking_confirmed", "ticket_cancelled"} <= kinds
    handled = plan_js_set("CHECKOUT")
    assert kinds <= handled
    assert plan_js_set("CHECKOUT_ONLY") <= handled
    assert {"checkout_started", "booking_confirmed", "ticket_cancelled"}.isdisjoint(
        plan_js_set("CHECKOUT_ONLY")
    )  # these change the plan too (frozen, seats sold or freed): a snapshot follows
