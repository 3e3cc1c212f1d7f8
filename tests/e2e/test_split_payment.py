"""Split payment in Chromium against pytest-django's live server and the Stripe sandbox (its
Stripe.js mock, served on loopback, is what the pay page loads): the organiser starts the
checkout on the trip page; three friends pay on their pay pages without logging in (one
card declined first, then a good one), one of them also covers a fourth friend's share;
the booking is confirmed and each sees their ticket with its QR code.

The pay flow needs no websocket, so the live server (WSGI) does. Screenshots at 360x740
of the pay page and of the tickets land in tests/e2e/screenshots/."""

import datetime as dt
import re
import time

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from booking.models import SeatAllocation, Ticket
from core import jobs
from payments import deadlines, services
from payments.models import Checkout, Share
from sandboxes.stripe_server import CARD_DECLINED, CARD_OK
from tests import factories
from tests.e2e.conftest import PHONE, TIME_ZONE
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def _context(browser, base, user=None):
    options = {
        "viewport": PHONE,
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "locale": "en-GB",
        "timezone_id": TIME_ZONE,
    }
    context = browser.new_context(**options)
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def _card(page, number):
    card = page.locator("[data-pay-card]")
    card.locator('input[placeholder="number"]').fill(number)
    card.locator('input[placeholder="exp_month"]').fill("12")
    card.locator('input[placeholder="exp_year"]').fill(str(time.gmtime().tm_year % 100 + 3))
    card.locator('input[placeholder="cvc"]').fill("123")
    card.locator('input[placeholder="postal_code"]').fill("75001")


def _pay(page, number):
    from playwright.sync_api import expect

    _card(page, number)
    page.locator("[data-pay-submit]").click()
    result = page.locator("[data-pay-result]")
    expect(result).to_have_attribute("data-kind", re.compile("success|error"))
    return result


def test_three_friends_pay_one_covers_a_fourth_and_everyone_gets_a_ticket(
    live_server,
    browser,
    screenshots,
    stripe_sandbox,  # noqa: F811
    payments_worker,
):
    from playwright.sync_api import expect

    base = live_server.url
    trip, (olivia, ana, ben, cleo), _departure = factories.checkout_ready_trip(travellers=4)

    # The organiser starts the checkout on the trip page.
    context, page = _context(browser, base, olivia)
    page.goto(f"{base}/trips/{trip.pk}/#plan")
    # The deadline and the policy are a step of their own, in a dialog.
    page.locator("[data-checkout-start] [data-open-dialog]").click()
    form = page.locator("#checkout-dialog")
    form.locator('input[name="deadline_hours"]').fill("12")
    form.locator('input[name="policy"][value="cancel_all"]').check()
    form.get_by_role("button", name="Start checkout").click()
    expect(page.locator("[data-checkout]")).to_be_visible()
    expect(page.locator("[data-countdown-left]")).to_contain_text("left")
    checkout = Checkout.objects.get(trip=trip)
    assert checkout.policy == "cancel_all"
    context.close()

    def pay_page(user):
        token = services.pay_link_token(checkout=checkout, payer=user)
        ctx, pg = _context(browser, base)  # no login: the link is enough
        pg.goto(f"{base}/pay/{token}/")
        return ctx, pg

    # Olivia pays for herself and covers Cleo's share.
    ctx, pg = pay_page(olivia)
    cleo_share = Share.objects.get(checkout=checkout, traveller=cleo)
    # Cleo's amount is hers: Olivia sees it once she chooses to cover it.
    expect(pg.locator(f'input[name="shares"][value="{cleo_share.pk}"]')).to_have_count(0)
    pg.locator(f'[data-cover-share="{cleo_share.pk}"]').click()
    expect(pg.locator(f'input[name="shares"][value="{cleo_share.pk}"]')).to_be_checked()
    result = _pay(pg, CARD_OK)
    expect(result).to_have_attribute("data-kind", "success")
    expect(pg.locator("[data-pay-done]")).to_be_visible()  # after the reload
    expect(pg.locator("[data-pay-paid-share]")).to_have_count(2)  # hers and Cleo's
    ctx.close()

    # Ana's card is declined, she tries again with another.
    ctx, pg = pay_page(ana)
    expect(pg.locator("[data-pay-sandbox]")).to_be_visible()
    pg.screenshot(path=str(screenshots / "pay-360.png"), full_page=True)
    result = _pay(pg, CARD_DECLINED)
    expect(result).to_have_attribute("data-kind", "error")
    expect(result).to_contain_text("declined")
    pg.screenshot(path=str(screenshots / "pay-declined-360.png"), full_page=True)
    result = _pay(pg, CARD_OK)
    expect(result).to_have_attribute("data-kind", "success")
    expect(pg.locator("[data-pay-done]")).to_be_visible()
    ctx.close()

    # Ben pays last: the worker makes the booking, his page shows the tickets when done.
    ctx, pg = pay_page(ben)
    _pay(pg, CARD_OK)
    expect(pg.locator("[data-pay-confirming], [data-tickets]")).to_be_visible()
    payments_worker.run_once()  # SQLite: the worker's pass (PostgreSQL: also its thread)
    expect(pg.locator("[data-tickets]")).to_be_visible(timeout=20_000)
    ctx.close()

    checkout.refresh_from_db()
    assert checkout.state == "confirmed"
    for user in (olivia, ana, ben, cleo):
        context, page = _context(browser, base, user)
        page.goto(f"{base}/trips/{trip.pk}/#checkout")
        ticket = Ticket.objects.get(booking__trip=trip, traveller=user)
        tickets = page.locator("[data-ticket]")
        expect(tickets).to_have_count(1)
        expect(tickets.first).to_have_attribute("data-ticket", ticket.code)
        expect(tickets.first.locator("[data-ticket-qr] svg")).to_be_visible()
        if user == cleo:
            page.locator("[data-checkout]").screenshot(path=str(screenshots / "tickets-360.png"))
            # Cleo gives her ticket up: the page states the refund first, then cancels.
            # Cancelling is a step away from the QR code: open "Change of plans?" first.
            page.locator("[data-ticket-change] summary").click()
            page.locator("[data-ticket-cancel-link]").click()
            quote = page.locator("[data-ticket-cancel-quote]")
            expect(quote).to_be_visible()
            page.screenshot(path=str(screenshots / "ticket-cancel-360.png"), full_page=True)
            page.locator("[data-ticket-cancel-submit]").click()
            expect(page.locator("[data-ticket-cancel-result]")).to_be_visible()
            page.screenshot(path=str(screenshots / "ticket-cancelled-360.png"), full_page=True)
            context.add_cookies(
                [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "fr", "url": base}]
            )
            page.reload()
            page.screenshot(path=str(screenshots / "ticket-cancelled-fr-360.png"), full_page=True)
            ticket.refresh_from_db()
            assert ticket.state == "cancelled"
            assert ticket.allocation.state != "sold"
        context.close()


def test_the_deadline_goes_ahead_without_the_unpaid_and_frees_their_seat(
    live_server,
    browser,
    screenshots,
    stripe_sandbox,  # noqa: F811
):
    """Issue 5: with "go ahead without the unpaid", two of three friends pay in their
    browsers, the third does not; the worker's deadline job books the two and releases the
    third's seat, which an anonymous visitor of the departure then sees free."""
    from playwright.sync_api import expect

    base = live_server.url
    trip, (olivia, ana, ben), departure = factories.checkout_ready_trip(travellers=3)
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia, policy="go_ahead")
    ben_seat = SeatAllocation.objects.filter(leg__trip=trip, user=ben).latest("pk").seat_id

    for user in (olivia, ana):
        token = services.pay_link_token(checkout=checkout, payer=user)
        ctx, pg = _context(browser, base)  # no login: the link is enough
        pg.goto(f"{base}/pay/{token}/")
        expect(_pay(pg, CARD_OK)).to_have_attribute("data-kind", "success")
        expect(pg.locator("[data-pay-done]")).to_be_visible()
        ctx.close()
    checkout.refresh_from_db()
    assert checkout.state == "open"  # Ben has not paid: the others wait for the deadline

    def seat_on_departure_page():
        ctx, pg = _context(browser, base)  # anonymous
        pg.goto(f"{base}/departures/{departure.pk}/")
        seat = pg.locator(f'[data-seat-id="{ben_seat}"]')
        expect(seat).to_have_count(1)
        return ctx, seat

    ctx, seat = seat_on_departure_page()
    expect(seat).to_have_attribute("data-seat-status", "held")  # still his until the deadline
    ctx.close()

    # Before the deadline the worker leaves it; after it, the policy runs once.
    job = next(job for job in jobs.registered() if job.name == "payment_deadlines")
    assert job.func is deadlines.checkouts_deadline
    assert deadlines.checkouts_deadline(now=checkout.deadline_at - dt.timedelta(seconds=1)) == 0
    Checkout.objects.filter(pk=checkout.pk).update(
        deadline_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert job.func() == 1
    checkout.refresh_from_db()
    assert checkout.state == "confirmed"

    for user in (olivia, ana):
        context, page = _context(browser, base, user)
        page.goto(f"{base}/trips/{trip.pk}/#checkout")
        ticket = Ticket.objects.get(booking__trip=trip, traveller=user)
        tickets = page.locator("[data-ticket]")
        expect(tickets).to_have_count(1)
        expect(tickets.first).to_have_attribute("data-ticket", ticket.code)
        expect(tickets.first.locator("[data-ticket-qr] svg")).to_be_visible()
        if user == ana:
            page.locator("[data-checkout]").screenshot(
                path=str(screenshots / "tickets-go-ahead-360.png")
            )
        context.close()

    # Ben's trip page: no ticket, and he is told he does not travel.
    assert not Ticket.objects.filter(booking__trip=trip, traveller=ben).exists()
    context, page = _context(browser, base, ben)
    page.goto(f"{base}/trips/{trip.pk}/#checkout")
    section = page.locator("[data-checkout]")
    expect(section).to_be_visible()
    expect(section.locator("[data-ticket]")).to_have_count(0)
    expect(section.locator("[data-checkout-released]")).to_be_visible()
    expect(section.locator(f'[data-traveller="{ben.pk}"]')).to_have_attribute(
        "data-status", "released"
    )
    for payer in (olivia, ana):
        expect(section.locator(f'[data-traveller="{payer.pk}"]')).to_have_attribute(
            "data-status", "paid"
        )
    section.screenshot(path=str(screenshots / "released-360.png"))
    context.close()

    # Anyone looking at the train sees his former seat free again.
    ctx, seat = seat_on_departure_page()
    expect(seat).to_have_attribute("data-seat-status", "free")
    ctx.close()
