"""Issue 22 point 6: who travels and who organises, told live. The organiser hands the
role over (after its confirmation page): the new organiser is told on their open page and
gets the organiser's tools without reloading; they remove a traveller: the removed one is
told on theirs, and everyone else's head count and travellers' list follow at once.
Daphne in a subprocess, as in test_live_plan (PostgreSQL, Redis when ``REDIS_URL``)."""

import pytest

from tests import factories
from tests.e2e.conftest import PHONE
from tests.e2e.test_live_plan import _browser_as, _open_plan, daphne_url  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIVE_MS = 4_000


def test_hand_over_and_removal_are_told_live(browser, daphne_url):  # noqa: F811
    from playwright.sync_api import expect

    base = daphne_url
    trip, (olivia, ana, ben), _departures = factories.planned_trip(travellers=3)
    people = {
        user: _browser_as(browser, base, user, viewport=PHONE, mobile=True)
        for user in (olivia, ana, ben)
    }
    pages = {user: page for user, (_context, page) in people.items()}
    try:
        for page in pages.values():
            _open_plan(page, base, trip)
        count = '.trip-head__facts [data-trip-live="count"]'
        for page in pages.values():
            expect(page.locator(count)).to_contain_text("3 travellers")
        # Ana has no organiser's tools yet.
        expect(pages[ana].locator("[data-member-remove]")).to_have_count(0)

        # Olivia hands over to Ana: a confirmation naming her first.
        organiser = pages[olivia]
        organiser.locator("#members > summary").click()
        organiser.locator(f'[data-member="{ana.pk}"] [data-member-hand-over]').click()
        organiser.get_by_role("button", name="Make Friend 1 the organiser").click()
        organiser.wait_for_url(f"**/trips/{trip.pk}/**")

        # Ana is told on the page she has open, and has the tools without reloading.
        news = pages[ana].locator("[data-plan-news]")
        expect(news).to_have_text("You are now the organiser of this trip.", timeout=LIVE_MS)
        expect(pages[ana].locator("[data-member-remove]")).to_have_count(2, timeout=LIVE_MS)
        expect(pages[ben].locator("[data-plan-news]")).to_contain_text(
            "is now the organiser", timeout=LIVE_MS
        )

        # Ana removes Ben (after its own confirmation).
        pages[ana].locator("#members > summary").click()
        pages[ana].locator(f'[data-member="{ben.pk}"] [data-member-remove]').click()
        pages[ana].locator("form.auth__form button[type=submit]").click()
        pages[ana].wait_for_url(f"**/trips/{trip.pk}/**")

        # Ben is told why his page stopped; Olivia's head and list follow without a reload.
        expect(pages[ben].locator("[data-plan-news]")).to_have_text(
            "The organiser removed you from this trip.", timeout=LIVE_MS
        )
        expect(pages[ben].locator("[data-plan-conn]")).to_have_attribute("data-state", "closed")
        expect(organiser.locator(count)).to_contain_text("2 travellers", timeout=LIVE_MS)
        expect(organiser.locator(f'#members [data-member="{ben.pk}"]')).to_have_count(0)
        expect(organiser.locator(f'#members [data-member="{ana.pk}"]')).to_contain_text("Organiser")
    finally:
        for context, _page in people.values():
            context.close()
