"""Held seats over days, in the browser (issue 22, point 5): a friend's page is open when
the group's holds lapse; the page says so live, and one tap on "Sit us together again"
seats the group together again. Served by Daphne as tests/e2e/test_live_plan.py is
(PostgreSQL, with Redis for the broadcast from this process). Screenshots at 360x740."""

import datetime as dt
import threading

import pytest
from django.utils import timezone

from booking import plan
from booking.models import SeatAllocation
from tests import factories
from tests.e2e.conftest import PHONE
from tests.e2e.test_live_plan import _browser_as, _open_plan, daphne_url  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_a_thread(job):
    """Run the worker's job as the worker does: off Playwright's thread, whose event loop
    forbids the broadcast's ``async_to_sync``."""
    from django.db import connection

    result = []

    def run():
        try:
            result.append(job())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


def test_a_lapse_shows_live_and_one_tap_seats_the_group_again(
    browser,
    daphne_url,  # noqa: F811
    screenshots,
):
    from playwright.sync_api import expect

    trip, (pia, tom), (early, _late) = factories.planned_trip(travellers=2)
    plan.poll_settle(trip_id=trip.pk, by=pia, leg="outbound", departure_id=early.pk)
    plan.sit_together(trip_id=trip.pk, user=pia, leg="outbound", departure_id=early.pk)
    context, page = _browser_as(browser, daphne_url, tom, viewport=PHONE, mobile=True)
    try:
        _open_plan(page, daphne_url, trip)
        note = page.locator("[data-holds-note]")
        expect(note).to_contain_text("and for 15 minutes after.")
        expect(page.locator("[data-holds-until]")).to_be_visible()
        lapsed = page.locator("[data-holds-lapsed]")
        expect(lapsed).to_be_hidden()

        SeatAllocation.objects.filter(state="held").update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        assert _in_a_thread(plan.holds_expire) == 2
        expect(lapsed).to_be_visible()  # live, without reloading
        expect(lapsed).to_contain_text("Your seats were released.")
        expect(page.locator("[data-holds-until]")).to_be_hidden()
        expect(page.locator("[data-sit-usual]")).to_be_hidden()  # one button, "again"
        page.locator("#plan-seats").screenshot(path=str(screenshots / "holds-lapsed-360.png"))
        # In French, for a friend who opens the page after the lapse.
        french_context, french = _browser_as(browser, daphne_url, pia, viewport=PHONE, mobile=True)
        french_context.add_cookies([{"name": "django_language", "value": "fr", "url": daphne_url}])
        _open_plan(french, daphne_url, trip)
        expect(french.locator("[data-holds-lapsed]")).to_contain_text(
            "Vos places ont été libérées."
        )
        french.locator("#plan-seats").screenshot(path=str(screenshots / "holds-lapsed-360-fr.png"))
        french_context.close()

        page.get_by_role("button", name="Sit us together again").click()
        expect(lapsed).to_be_hidden()
        expect(page.locator("[data-sit-usual]")).to_be_visible()
        expect(page.locator("[data-plan-seatmap] .seat--friend")).to_have_count(2)
        assert SeatAllocation.objects.filter(state="held", departure=early).count() == 2
    finally:
        context.close()
