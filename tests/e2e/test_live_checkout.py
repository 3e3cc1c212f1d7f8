"""The live plan follows the checkout without a reload (plan.js, "checkout" events): a
traveller has the trip page open when the organiser starts the checkout, then a friend
pays; the checkout panel appears, then shows the friend as paid, and the page was loaded
once. The changes are made in this process and reach Daphne's sockets through Redis, so
this needs PostgreSQL (as tests/e2e/test_live_plan.py) and ``REDIS_URL``."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from booking.models import TripEvent
from payments import services
from payments.models import Share
from tests import factories
from tests.e2e.conftest import DESKTOP
from tests.e2e.test_live_plan import _browser_as, _open_plan, daphne_url  # noqa: F401
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEEN_WITHIN_MS = 3_000


def elsewhere(func, **kwargs):
    """Run a service in another thread: Playwright's sync API keeps an event loop in this
    one, where the after-commit broadcast (``async_to_sync``) may not run."""

    def call():
        try:
            return func(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def redis_layer():
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL: this process's broadcasts must reach Daphne's sockets")


def test_the_checkout_panel_follows_payments_live(
    browser,
    redis_layer,
    daphne_url,  # noqa: F811
    stripe_sandbox,  # noqa: F811
):
    from playwright.sync_api import expect

    trip, (olivia, ana), _departure = elsewhere(factories.checkout_ready_trip, travellers=2)
    context, page = _browser_as(browser, daphne_url, ana, viewport=DESKTOP)
    loads = []
    page.on(
        "request",
        lambda r: (
            loads.append(r.url)
            if r.resource_type == "document" and r.url.split("#")[0].endswith(f"/trips/{trip.pk}/")
            else 0
        ),
    )
    try:
        _open_plan(page, daphne_url, trip)
        panel = page.locator("[data-checkout-panel]")
        expect(panel).to_be_hidden()

        checkout = elsewhere(services.checkout_start, trip_id=trip.pk, by=olivia)
        expect(panel.locator("[data-checkout]")).to_be_visible(timeout=SEEN_WITHIN_MS)
        expect(panel.locator("[data-countdown-left]")).to_contain_text("left")
        expect(panel.locator("[data-pay-mine]")).to_be_visible()
        # Told once, wherever Ana is on the page; the plan turns read-only without a reload.
        expect(page.locator("[data-plan-news]")).to_contain_text("started the checkout")
        expect(page.locator("[data-trip-status]")).to_have_attribute("data-trip-status", "checkout")
        expect(page.locator("[data-sit-together]")).to_have_count(0)

        elsewhere(
            services.payment_start,
            checkout_id=checkout.pk,
            payer=olivia,
            share_ids=[Share.objects.get(checkout=checkout, traveller=olivia).pk],
            payment_method=stripe_sandbox.card_payment_method(),
        )
        assert TripEvent.objects.filter(trip=trip, kind="shares_changed").exists()
        expect(panel.locator(f'[data-traveller="{olivia.pk}"]')).to_have_attribute(
            "data-status", "paid", timeout=SEEN_WITHIN_MS
        )
        expect(panel.locator(f'[data-traveller="{ana.pk}"]')).to_have_attribute(
            "data-status", "unpaid"
        )
        # "Who is here" still draws (the panel's statuses are not its rows).
        expect(
            page.locator("[data-plan-travellers] [data-traveller-presence]").first
        ).to_be_visible()
        # No reload (the plan's HTML is fetched again when the trip turns to paying: the
        # server draws the read-only plan; that is not a load of the page).
        assert len(loads) == 1, loads
    finally:
        context.close()
