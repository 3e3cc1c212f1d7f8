"""Issue 22 in Chromium at 360x740 with Facebook's in-app user agent: prices stay private
and covering a friend is told to both (points 1, 2), a late friend's invite page shows
the chosen train (point 3), and a private trip's not-found page offers to log in
(point 12). Screenshots in English and French land in tests/e2e/screenshots/."""

import re

import pytest

from payments import services
from payments.models import Share
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.e2e.conftest import facebook_phone
from tests.e2e.test_split_payment import _pay
from tests.payments.conftest import stripe_sandbox, stripe_sandbox_process  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

YOUTH = {"fare_class_code": "standard-2", "passenger_type_code": "youth", "age": 20}


def _amount(cents: int) -> re.Pattern:
    return re.compile(rf"{cents // 100}[.,]{cents % 100:02d}")


def test_a_pay_page_shows_no_friends_amount_and_covering_is_told_to_both(
    live_server,
    browser,
    screenshots,
    stripe_sandbox,  # noqa: F811
):
    from playwright.sync_api import expect

    base = live_server.url
    trip, (olivia, ana, ben), _departure = factories.checkout_ready_trip(
        travellers=3, fares={2: YOUTH}
    )
    checkout = services.checkout_start(trip_id=trip.pk, by=olivia)
    bens = Share.objects.get(checkout=checkout, traveller=ben)

    def pay_page(user, language="en"):
        token = services.pay_link_token(checkout=checkout, payer=user)
        context, page = facebook_phone(browser, base, language=language)
        page.goto(f"{base}/pay/{token}/")
        return context, page

    # Ana sees Ben's share without its amount, chooses to cover it, then sees it.
    context, page = pay_page(ana)
    expect(page.locator("body")).not_to_contain_text(_amount(bens.amount_cents))
    page.screenshot(path=str(screenshots / "paths-pay-private-360.png"), full_page=True)
    page.locator(f'[data-cover-share="{bens.pk}"]').click()
    expect(page.locator(f'input[name="shares"][value="{bens.pk}"]')).to_be_checked()
    result = _pay(page, CARD_OK)
    expect(result).to_have_attribute("data-kind", "success")
    expect(page.locator("[data-pay-paid-share]")).to_have_count(2)
    page.screenshot(path=str(screenshots / "paths-pay-covered-payer-360.png"), full_page=True)
    context.close()

    # Ben is told who paid for him, and nothing about a card.
    for language in ("en", "fr"):
        context, page = pay_page(ben, language)
        expect(page.locator("[data-pay-covered-by]")).to_contain_text(ana.profile.display_name)
        page.screenshot(
            path=str(screenshots / f"paths-pay-covered-friend-{language}-360.png"),
            full_page=True,
        )
        context.close()

    # Olivia reads "Paid by a friend", and no amount but her own.
    context, page = pay_page(olivia)
    expect(page.locator(f'[data-traveller="{ben.pk}"]')).to_contain_text("Paid by a friend")
    expect(page.locator("body")).not_to_contain_text(_amount(bens.amount_cents))
    context.close()


def test_the_invite_page_shows_the_chosen_train_and_a_private_trip_offers_to_log_in(
    live_server, browser, screenshots
):
    from playwright.sync_api import expect

    from booking import plan

    base = live_server.url
    trip, (olivia, _ana), (early, _late) = factories.planned_trip(travellers=2)
    plan.poll_settle(trip_id=trip.pk, by=olivia, leg="outbound", departure_id=early.pk)
    token = factories.link_made_while_planning(trip, by=olivia)
    for language in ("en", "fr"):
        context, page = facebook_phone(browser, base, language=language)
        page.goto(f"{base}/join/{token}/")
        expect(page.locator(f'[data-join-train="{early.pk}"]')).to_be_visible()
        page.screenshot(
            path=str(screenshots / f"paths-join-chosen-train-{language}-360.png"), full_page=True
        )
        answer = page.goto(f"{base}/trips/{trip.pk}/")
        assert answer.status == 404
        expect(page.locator("[data-not-found-login]")).to_be_visible()
        page.screenshot(
            path=str(screenshots / f"paths-private-trip-404-{language}-360.png"), full_page=True
        )
        context.close()
