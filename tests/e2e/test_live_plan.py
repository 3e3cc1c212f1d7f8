"""Three friends plan a trip live, each in their own browser: they vote, the organiser
chooses the train, each chooses their own fare (one with a youth card), one presses "Sit
us together", another moves seat by hand; each sees the others' picks within the
second. One goes offline, another moves, the first comes back and is up to date without
reloading.

pytest-django's live server speaks WSGI only (no websockets), so the app is served by
Daphne in a subprocess against the test database. Another process only sees a database
that is a real one: this runs on PostgreSQL (``DATABASE_URL``), with Redis when
``REDIS_URL`` is set, and skips on SQLite (whose test database lives in memory).
Screenshots of the plan at 360x740 and 1280x800 land in tests/e2e/screenshots/."""

import contextlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from booking.demo import card_sample_number
from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE, TIME_ZONE
from tests.live_servers import HOST, daphne_server, server_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEEN_WITHIN_MS = 2_000  # "each sees the others' picks within a second", with slack
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@contextlib.contextmanager
def serve_daphne(tmp_path: Path, **extra_env: str):
    """Daphne serving the app against pytest-django's test database, in a subprocess
    (tests/live_servers.py); yields its base URL. It shares this process's channel layer
    and cache prefixes, so what a test does here reaches its sockets; ``extra_env`` adds
    settings by their environment names (the Stripe sandbox's, for pay pages)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (DATABASE_URL): Daphne runs in another process, which cannot "
            "see pytest's in-memory SQLite test database"
        )
    layer = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    env = server_env(
        tmp_path,
        layer.get("prefix", "sbs"),
        CACHE_PREFIX=settings.CACHES["default"].get("KEY_PREFIX", "sbs"),
        **extra_env,
    )
    with daphne_server(env, tmp_path) as (_process, port):
        yield f"http://{HOST}:{port}"


@pytest.fixture
def daphne_url(transactional_db, tmp_path):
    with serve_daphne(tmp_path) as base:
        yield base


def _browser_as(browser, base, user, *, viewport, mobile=False):
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    options = {"viewport": viewport, "locale": "en-GB", "timezone_id": TIME_ZONE}
    if mobile:
        options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
    context = browser.new_context(**options)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    page = context.new_page()
    page.set_default_timeout(8_000)
    return context, page


def _open_plan(page, base, trip):
    page.goto(f"{base}/trips/{trip.pk}/#plan")
    from playwright.sync_api import expect

    expect(page.locator("[data-plan-conn]")).to_have_attribute("data-state", "live")


def _seat(page, seat_id):
    return page.locator(f'[data-plan-seatmap] [data-seat-id="{seat_id}"]')


def test_three_friends_plan_live(browser, daphne_url, screenshots):
    from playwright.sync_api import expect

    base = daphne_url
    trip, (olivia, farid, yuna), (_early, late) = factories.planned_trip(travellers=3, options=2)
    youth_number = card_sample_number(factories.discount_cards()["youth-card"])
    people = {
        olivia: _browser_as(browser, base, olivia, viewport=PHONE, mobile=True),
        farid: _browser_as(browser, base, farid, viewport=DESKTOP),
        yuna: _browser_as(browser, base, yuna, viewport=DESKTOP),
    }
    pages = {user: page for user, (_context, page) in people.items()}
    page_loads = []  # the trip page, as Farid's browser fetches it
    pages[farid].on(
        "request",
        lambda request: (
            page_loads.append(request.url)
            if request.url.split("#")[0].rstrip("/").endswith(f"/trips/{trip.pk}")
            else None
        ),
    )
    try:
        for page in pages.values():
            _open_plan(page, base, trip)
        # Everyone is on the page: three green dots on every screen.
        for page in pages.values():
            expect(page.locator(".plan-person--online")).to_have_count(3, timeout=SEEN_WITHIN_MS)

        # The organiser puts the two trains to the vote (again, through the form).
        organiser = pages[olivia]
        organiser.locator(".propose__summary").click()
        organiser.locator("[data-propose-form] button[type=submit]").click()
        expect(organiser.locator('[data-feedback="propose"]')).to_have_attribute(
            "data-kind", "success"
        )

        # All three vote for the later train; each sees three votes on it.
        for page in pages.values():
            page.locator(f'[data-option="{late.pk}"] [data-vote]').click()
        for page in pages.values():
            option = page.locator(f'[data-option="{late.pk}"]')
            expect(option.locator("[data-voter]")).to_have_count(3, timeout=SEEN_WITHIN_MS)
            expect(option.locator("[data-vote]")).to_have_attribute("aria-pressed", "true")

        # Each chooses their own fare; Yuna with her youth card.
        def choose(page, *, fare, passenger="adult", age="", card="", number=""):
            form = page.locator("[data-fare-form]")
            form.locator("[name=fare_class]").select_option(fare)
            form.locator("[name=passenger_type]").select_option(passenger)
            form.locator("[name=age]").fill(age)
            form.locator("[name=card]").select_option(card)
            if card:  # the number's field shows only with a card
                form.locator("[name=card_number]").fill(number)
            form.locator("button[type=submit]").click()
            expect(page.locator('[data-feedback="ticket"]')).to_have_attribute(
                "data-kind", "success"
            )

        choose(pages[olivia], fare="standard-2", age="35")
        choose(pages[farid], fare="flex-2")
        choose(
            pages[yuna],
            fare="standard-2",
            passenger="youth",
            age="20",
            card="youth-card",
            number=youth_number,
        )
        # Yuna's price on the later train is her own: 30 % off with the card.
        yuna_price = pages[yuna].locator(f'[data-option="{late.pk}"] [data-option-price]')
        olivia_price = pages[olivia].locator(f'[data-option="{late.pk}"] [data-option-price]')
        expect(yuna_price).to_contain_text("31.50", timeout=SEEN_WITHIN_MS)
        expect(olivia_price).to_contain_text("45.00", timeout=SEEN_WITHIN_MS)

        # The organiser chooses the later train: every page switches to its seat map.
        organiser.locator(f'[data-settle="{late.pk}"]').click()
        for page in pages.values():
            expect(page.locator("[data-plan-seatmap]")).to_have_attribute(
                "data-departure-id", str(late.pk), timeout=SEEN_WITHIN_MS
            )
            expect(page.locator("[data-plan-settled]")).to_contain_text(late.service_number)

        # Farid: "Sit us together". Everyone sees three friends' seats side by side.
        pages[farid].locator("[data-sit-together]:visible").click()
        held = '[data-plan-seatmap] [data-seat]:not([data-holder=""])'
        for page in pages.values():
            expect(page.locator(held)).to_have_count(3, timeout=SEEN_WITHIN_MS)
        for page in pages.values():
            for person in (olivia, farid, yuna):
                status = page.locator(f'[data-traveller="{person.pk}"] [data-traveller-seat]')
                # The seat by its one name (issue 18 point 7), in the page's language.
                expect(status).to_contain_text(
                    re.compile(r"(Coach|Voiture) 2, (seat|place) \d+"), timeout=SEEN_WITHIN_MS
                )
        expect(pages[farid].locator("[data-plan-seatmap] .seat--mine")).to_have_count(1)

        # Olivia moves by hand, with the keyboard: Enter on a free seat of her class.
        free_second = (
            '[data-plan-seatmap] [data-seat][data-comfort="second"][data-seat-status="free"]'
        )
        target = organiser.locator(free_second).last
        target_id = target.get_attribute("data-seat-id")
        target.focus()
        organiser.keyboard.press("ArrowLeft")
        organiser.keyboard.press("ArrowRight")
        expect(_seat(organiser, target_id)).to_be_focused()
        organiser.keyboard.press("Enter")
        for page in pages.values():
            expect(_seat(page, target_id)).to_have_attribute(
                "data-holder", str(olivia.pk), timeout=SEEN_WITHIN_MS
            )
        expect(_seat(organiser, target_id)).to_have_attribute("aria-selected", "true")

        screenshots.mkdir(exist_ok=True)
        organiser.locator("#plan").screenshot(path=str(screenshots / "plan-360.png"))
        assert organiser.evaluate(NO_HORIZONTAL_SCROLL)
        pages[farid].locator("#plan").screenshot(path=str(screenshots / "plan-1280.png"))

        # Someone who is not in the trip looks at the same train's page.
        onlooker_context = browser.new_context(viewport=PHONE, locale="en-GB")
        people["onlooker"] = (onlooker_context, onlooker_context.new_page())
        onlooker = people["onlooker"][1]
        onlooker.goto(f"{base}/departures/{late.pk}/")
        expect(onlooker.locator("[data-departure-live]")).to_have_attribute("data-live", "on")

        # Yuna's network drops; Farid moves meanwhile; she comes back up to date, no reload.
        yuna_context, yuna_page = people[yuna]
        yuna_page.evaluate("window.__samePage = true")
        yuna_context.set_offline(True)
        expect(yuna_page.locator("[data-plan-conn]")).to_have_attribute("data-state", "offline")
        move = pages[farid].locator(free_second).first
        move_id = move.get_attribute("data-seat-id")
        move.click()
        expect(_seat(organiser, move_id)).to_have_attribute(
            "data-holder", str(farid.pk), timeout=SEEN_WITHIN_MS
        )
        expect(_seat(yuna_page, move_id)).not_to_have_attribute("data-holder", str(farid.pk))
        # The onlooker sees the seat taken within the second, and no name with it.
        onlooker_seat = onlooker.locator(f'[data-departure-live] [data-seat-id="{move_id}"]')
        expect(onlooker_seat).to_have_attribute("data-seat-status", "held", timeout=SEEN_WITHIN_MS)
        expect(onlooker_seat).to_have_attribute("aria-label", re.compile(r"on hold$"))
        assert farid.profile.display_name not in onlooker.content()
        yuna_context.set_offline(False)
        expect(yuna_page.locator("[data-plan-conn]")).to_have_attribute("data-state", "live")
        expect(_seat(yuna_page, move_id)).to_have_attribute(
            "data-holder", str(farid.pk), timeout=SEEN_WITHIN_MS
        )
        expect(yuna_page.locator(held)).to_have_count(3)
        assert yuna_page.evaluate("window.__samePage === true")
        # Loaded once, fetched again once when the train was chosen (a new seat map):
        # everything else came over the websocket.
        assert len(page_loads) == 2, page_loads

        for page, name in ((organiser, "plan-phone-full"), (pages[farid], "plan-desktop-full")):
            page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    finally:
        for context, _page in people.values():
            context.close()
