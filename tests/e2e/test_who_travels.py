"""Who travels (issue 23), in Chromium against Daphne on PostgreSQL and Redis.

- A traveller dropped at the deadline reads "not travelling" on every page (trip page, pay
  page, My trips) while the pages the others have open turn to "Booked" live, as they do
  when the last payer pays.
- A broadcast that never reaches the page (the deadline worker is another process; with
  the in-memory channel layer its broadcasts stay in it) is caught up within a heartbeat:
  the snapshot that catches up also fetches the checkout part again.

The changes are made in this process, in another thread (Playwright's sync API keeps an
event loop in this one), and reach Daphne's sockets through Redis.
"""

import datetime as dt

import pytest

from booking import live
from payments import deadlines, services
from payments.models import Checkout, Share
from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.test_live_checkout import elsewhere, redis_layer  # noqa: F401
from tests.e2e.test_live_plan import _browser_as, _open_plan, daphne_url  # noqa: F401
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEEN_WITHIN_MS = 3_000


def _two_paid_one_not(sandbox):
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    for payer in (olivia, ana):
        services.payment_start(
            checkout_id=checkout.pk,
            payer=payer,
            share_ids=[Share.objects.get(checkout=checkout, traveller=payer).pk],
            payment_method=sandbox.card_payment_method(),
        )
    # The deadline has just passed: the worker's next pass applies the policy.
    Checkout.objects.filter(pk=checkout.pk).update(
        deadline_at=checkout.deadline_at - dt.timedelta(days=1)
    )
    return trip, (olivia, ana, ben), checkout


def _page_loads(page, trip) -> list[str]:
    """The trip page's loads as a document (a reload), not the plan's fetches of its HTML
    when the trip changes state (plan.js draws the new state from the server's HTML)."""
    loads = []
    path = f"/trips/{trip.pk}/"
    page.on(
        "request",
        lambda r: (
            loads.append(r.url)
            if r.resource_type == "document" and r.url.split("#")[0].endswith(path)
            else 0
        ),
    )
    return loads


def test_dropped_at_the_deadline_reads_not_travelling_while_the_others_turn_booked_live(
    browser,
    redis_layer,  # noqa: F811
    daphne_url,  # noqa: F811
    stripe_sandbox,  # noqa: F811
):
    from playwright.sync_api import expect

    trip, (olivia, _ana, ben), checkout = elsewhere(_two_paid_one_not, sandbox=stripe_sandbox)
    o_context, o_page = _browser_as(browser, daphne_url, olivia, viewport=DESKTOP)
    b_context, b_page = _browser_as(browser, daphne_url, ben, viewport=PHONE, mobile=True)
    try:
        loads = _page_loads(o_page, trip)
        _open_plan(o_page, daphne_url, trip)
        _open_plan(b_page, daphne_url, trip)
        o_panel = o_page.locator("[data-checkout-panel]")
        expect(o_panel.locator("[data-booked]")).to_have_count(0)

        elsewhere(deadlines.checkouts_deadline)  # the worker's pass

        # Olivia paid: her open page turns to "Booked" with her ticket, without a reload.
        expect(o_panel.locator("[data-booked]")).to_be_visible(timeout=SEEN_WITHIN_MS)
        expect(o_panel.locator("[data-ticket]")).to_have_count(1)
        assert len(loads) == 1, loads
        # Ben did not: his open page says he is not travelling, and never "booked".
        b_panel = b_page.locator("[data-checkout-panel]")
        expect(b_panel.locator("[data-not-travelling]")).to_be_visible(timeout=SEEN_WITHIN_MS)
        expect(b_panel.locator("[data-checkout-released]")).to_be_visible()
        expect(b_panel.locator("[data-booked]")).to_have_count(0)

        # His pay link and My trips say the same.
        token = services.pay_link_token(checkout=checkout, payer=ben)
        b_page.goto(f"{daphne_url}/pay/{token}/")
        expect(b_page.locator("[data-not-travelling]")).to_be_visible()
        expect(b_page.locator("[data-booked]")).to_have_count(0)
        b_page.goto(f"{daphne_url}/trips/")
        row = b_page.locator(f'[data-trip="{trip.pk}"]')
        expect(row.locator('[data-standing="not_travelling"]')).to_be_visible()
        expect(row.locator('[data-standing="booked"]')).to_have_count(0)
    finally:
        o_context.close()
        b_context.close()


def test_a_missed_deadline_broadcast_is_caught_up_within_a_heartbeat(
    browser,
    daphne_url,  # noqa: F811
    stripe_sandbox,  # noqa: F811
    monkeypatch,
):
    from playwright.sync_api import expect

    trip, (olivia, _ana, _ben), _checkout = elsewhere(_two_paid_one_not, sandbox=stripe_sandbox)
    context, page = _browser_as(browser, daphne_url, olivia, viewport=DESKTOP)
    try:
        page.clock.install()  # the heartbeat's timers, fast-forwarded below
        loads = _page_loads(page, trip)
        _open_plan(page, daphne_url, trip)
        panel = page.locator("[data-checkout-panel]")

        # The worker runs in another process whose broadcasts reach nobody.
        monkeypatch.setattr(live, "_send", lambda group, message: None)
        elsewhere(deadlines.checkouts_deadline)
        page.wait_for_timeout(500)
        expect(panel.locator("[data-booked]")).to_have_count(0)

        # The next heartbeat's answer says the trip is further on: the page catches up.
        page.clock.run_for(21_000)  # a ping (every 20 s)
        page.wait_for_timeout(500)  # its pong, over the real socket
        page.clock.run_for(2_000)  # the wait for missing events, then a snapshot
        expect(panel.locator("[data-booked]")).to_be_visible(timeout=SEEN_WITHIN_MS)
        assert len(loads) == 1, loads
    finally:
        context.close()


FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}


def _booked_by_olivia(sandbox, token_holder: list):
    """Olivia and Ana (a guest, Flex), booked; Olivia paid both shares. A link made while
    planning is kept in ``token_holder``."""
    trip, (olivia, ana), departure, _checkout = factories.booked_by_organiser(
        sandbox, fares={1: FLEX}
    )
    token = factories.link_made_while_planning(trip, by=olivia)
    token_holder.append(token)
    return trip, olivia, ana, departure


def test_an_invitation_to_a_booked_trip_offers_a_seat_of_one_s_own_and_a_deleted_guest_s_ticket_is_refunded_to_the_friend(  # noqa: E501
    browser,
    redis_layer,  # noqa: F811
    daphne_url,  # noqa: F811
    stripe_sandbox,  # noqa: F811
):
    from playwright.sync_api import expect

    from booking.models import Ticket
    from groups import account_services
    from payments.models import Refund

    tokens: list[str] = []
    trip, olivia, ana, departure = elsewhere(
        _booked_by_olivia, sandbox=stripe_sandbox, token_holder=tokens
    )
    lea = elsewhere(factories.user, name="Lea Late")

    # Lea opens the link made while planning: the trip is booked, she is offered a seat
    # of her own on the same train, never told she is booked.
    l_context, l_page = _browser_as(browser, daphne_url, lea, viewport=PHONE, mobile=True)
    try:
        l_page.goto(f"{daphne_url}/join/{tokens[0]}/")
        closed = l_page.locator("[data-join-closed]")
        expect(closed).to_have_attribute("data-join-closed", "booked")
        expect(l_page.get_by_text("booked", exact=False).first).to_be_visible()
        assert "You are booked" not in l_page.content()
        expect(l_page.get_by_role("button", name="Join the trip")).to_have_count(0)
        l_page.locator("[data-book-own]").first.click()
        l_page.wait_for_url(f"**/departures/{departure.pk}/")
    finally:
        l_context.close()

    # Ana, whose share Olivia paid, reads what deleting her account does, then deletes it;
    # Olivia's open trip page shows the ticket cancelled and the refund to her card.
    ticket = Ticket.objects.get(booking__trip=trip, traveller=ana)
    a_context, a_page = _browser_as(browser, daphne_url, ana, viewport=PHONE, mobile=True)
    o_context, o_page = _browser_as(browser, daphne_url, olivia, viewport=DESKTOP)
    try:
        a_page.goto(f"{daphne_url}/account/delete/")
        listed = a_page.locator(f'[data-delete-ticket="{ticket.pk}"]')
        expect(listed).to_contain_text("Olivia")
        _open_plan(o_page, daphne_url, trip)
        panel = o_page.locator("[data-checkout-panel]")
        expect(panel.locator(f'[data-traveller="{ana.pk}"]')).to_have_attribute(
            "data-status", "paid"
        )

        elsewhere(account_services.account_delete, user=ana)

        expect(panel.locator(f'[data-traveller="{ana.pk}"]')).to_have_attribute(
            "data-status", "cancelled", timeout=SEEN_WITHIN_MS
        )
        expect(panel.locator("[data-pay-refund]")).to_have_count(1)
        ticket.refresh_from_db()
        assert ticket.state == "cancelled"
        refund = Refund.objects.get(ticket=ticket)
        assert refund.payment.payer_id == olivia.pk and refund.state == "succeeded"
        # No seat of the plan is drawn for someone gone ("?").
        seatmap = o_page.locator("[data-plan-seatmap]")
        expect(seatmap.locator(f'[data-holder="{ana.pk}"]')).to_have_count(0)
        expect(seatmap.locator(".seat__who", has_text="?")).to_have_count(0)
    finally:
        a_context.close()
        o_context.close()
