"""Split payment in Chromium against pytest-django's live server and the Stripe sandbox (its
Stripe.js mock, served on loopback, is what the pay page loads): the organiser starts the
checkout on the trip page; three friends pay on their pay pages without logging in (one
card declined first, then a good one), one of them also covers a fourth friend's share;
the booking is confirmed and each sees their ticket with its QR code.

The pay flow needs no websocket, so the live server (WSGI) does. Screenshots at 360x740
of the pay page and of the tickets land in tests/e2e/screenshots/."""

import re
import time

import pytest
from django.conf import settings
from django.test import Client

from booking.models import Ticket
from payments import services
from payments.models import Checkout, Share
from tests import factories
from tests.e2e.conftest import PHONE, TIME_ZONE
from tests.fakes.stripe_server import CARD_DECLINED, CARD_OK
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
):
    from playwright.sync_api import expect

    base = live_server.url
    trip, (olivia, ana, ben, cleo), _departure = factories.checkout_ready_trip(travellers=4)

    # The organiser starts the checkout on the trip page.
    context, page = _context(browser, base, olivia)
    page.goto(f"{base}/trips/{trip.pk}/#plan")
    form = page.locator("[data-checkout-start]")
    form.locator('input[name="deadline_hours"]').fill("12")
    form.locator('input[name="policy"][value="cancel_all"]').check()
    form.get_by_role("button").click()
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
    pg.locator(f'input[name="shares"][value="{cleo_share.pk}"]').check()
    result = _pay(pg, CARD_OK)
    expect(result).to_have_attribute("data-kind", "success")
    expect(pg.locator("[data-pay-done]")).to_be_visible()  # after the reload
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

    # Ben pays last: the booking is made.
    ctx, pg = pay_page(ben)
    _pay(pg, CARD_OK)
    expect(pg.locator("[data-tickets]")).to_be_visible()
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
        context.close()
