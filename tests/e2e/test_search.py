"""A traveller searches Paris → Lyon on a phone, opens a train, looks at its seat map and
taps a seat; then switches to English. Screenshots of each page at phone and desktop sizes,
in both languages, land in tests/e2e/screenshots/ for a human to look at."""

import datetime as dt
import re
import zoneinfo

import pytest
from django.utils import timezone

from booking.models import AllocationState, Event, Seat, SeatAllocation
from booking.services import vehicle_import
from tests import factories

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _deck(*, deck, rows, columns, first_number, comfort, tables):
    """Seats of one deck. ``columns`` maps a column to its position; ``tables`` lists the
    first row of each pair of rows that face each other across tables."""
    seats, number = [], first_number
    table_rows = {row for first in tables for row in (first, first + 1)}
    for row in range(1, rows + 1):
        facing = "backward" if row in tables else "forward"
        for column, position in columns.items():
            table = ""
            if row in table_rows:
                first = row if row in tables else row - 1
                side = "L" if column < 2 else "R"
                table = f"{deck[0].upper()}{first}{side}"
            seats.append(
                {
                    "number": number,
                    "deck": deck,
                    "row": row,
                    "column": column,
                    "position": position,
                    "facing": facing,
                    "table": table,
                    "comfort_class": comfort,
                }
            )
            number += 1
    return seats


def duplex_vehicle():
    first = {0: "window", 1: "aisle", 3: "window"}
    second = {0: "window", 1: "aisle", 3: "aisle", 4: "window"}
    coaches = [
        {
            "number": 1,
            "double_deck": True,
            "seats": _deck(
                deck="upper", rows=6, columns=first, first_number=61, comfort="first", tables=[1, 5]
            )
            + _deck(
                deck="lower", rows=4, columns=first, first_number=11, comfort="first", tables=[1]
            ),
        },
        {
            "number": 2,
            "double_deck": True,
            "seats": _deck(
                deck="upper",
                rows=7,
                columns=second,
                first_number=61,
                comfort="second",
                tables=[1, 6],
            )
            + _deck(
                deck="lower", rows=5, columns=second, first_number=11, comfort="second", tables=[4]
            ),
        },
        {
            "number": 3,
            "seats": _deck(
                deck="lower", rows=8, columns=second, first_number=11, comfort="second", tables=[4]
            ),
        },
    ]
    data = {"code": "tgv-duplex-e2e", "name": "TGV Duplex", "coaches": coaches}
    return vehicle_import(data=data)[0]


@pytest.fixture
def paris_lyon():
    paris = factories.station(code="FRPLY", name="Paris Gare de Lyon", city="Paris")
    lyon = factories.station(code="FRLPD", name="Lyon Part-Dieu", city="Lyon")
    marseille = factories.station(code="FRMSC", name="Marseille Saint-Charles", city="Marseille")
    vehicle = duplex_vehicle()
    tomorrow = timezone.now().astimezone(PARIS).date() + dt.timedelta(days=1)
    departures = []
    for number, (hour, minute) in (("6601", (7, 58)), ("6609", (10, 4)), ("6633", (18, 30))):
        departure = factories.departure(
            origin=paris,
            destination=lyon,
            departs_at=dt.datetime.combine(tomorrow, dt.time(hour, minute), tzinfo=PARIS),
            vehicle_obj=vehicle,
        )
        departure.service_number = number
        departure.save(update_fields=["service_number"])
        departures.append(departure)
    seats = {(s.coach.number, s.number): s for s in Seat.objects.select_related("coach")}
    sold_by_coach = {
        1: [61, 62, 12],
        2: [61, 62, 63, 66, 70, 71, 75, 13, 14],
        3: [11, 12, 20, 27, 28],
    }
    sold = [(coach, number) for coach, numbers in sold_by_coach.items() for number in numbers]
    factories.sell(departures[0], [seats[key] for key in sold])
    for key in ((2, 64), (2, 78), (3, 31)):
        SeatAllocation.objects.create(
            departure=departures[0],
            seat=seats[key],
            state=AllocationState.HELD,
            expires_at=timezone.now() + dt.timedelta(minutes=15),
        )
    today = timezone.localdate()
    Event.objects.create(
        slug="fete-des-lumieres",
        name="Fête des Lumières",
        kind=Event.Kind.FESTIVAL,
        station=lyon,
        venue="Presqu'île",
        starts_on=today + dt.timedelta(days=12),
        ends_on=today + dt.timedelta(days=15),
    )
    Event.objects.create(
        slug="marsatac",
        name="Marsatac",
        kind=Event.Kind.FESTIVAL,
        station=marseille,
        venue="Parc Chanot",
        starts_on=today + dt.timedelta(days=30),
        ends_on=today + dt.timedelta(days=32),
    )
    return {"date": tomorrow.isoformat(), "departures": departures, "seat_count": len(seats)}


def _search(page, base_url, date):
    page.goto(base_url + "/")
    page.select_option("#origin", "FRPLY")
    page.select_option("#destination", "FRLPD")
    page.fill("#date", date)
    page.locator("#search button[type=submit]").click()
    page.locator(".trip-card").first.wait_for()


def _switch_language(page, code):
    page.locator(f'.lang-switch__option[value="{code}"]').click()
    page.wait_for_function(f"document.documentElement.lang === '{code}'")


def test_search_open_a_train_and_tap_a_seat_on_a_phone(live_server, phone, screenshots, paris_lyon):
    page = phone
    page.goto(live_server.url + "/")
    # The swap button is drawn by JavaScript and swaps the two stations.
    page.select_option("#origin", "FRPLY")
    page.select_option("#destination", "FRLPD")
    page.locator("[data-search-swap]").click()
    assert page.locator("#origin").input_value() == "FRLPD"
    assert page.locator("#destination").input_value() == "FRPLY"
    assert page.locator("#date").get_attribute("min") == timezone.localdate().isoformat()

    _search(page, live_server.url, paris_lyon["date"])
    cards = page.locator(".trip-card")
    assert cards.count() == 3
    first = cards.first
    assert "07:58" in first.inner_text()
    assert "Train 6601" in first.inner_text()
    assert "45,00\u00a0€" in first.inner_text()
    page.screenshot(path=screenshots / "home-results-fr-360.png", full_page=True)

    first.locator(".trip-card__link").click()
    page.locator("[role=grid]").first.wait_for()
    assert page.locator("[role=gridcell]").count() == paris_lyon["seat_count"] == 110
    assert page.locator("h1").inner_text().startswith("Paris Gare de Lyon")
    no_horizontal_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_horizontal_scroll)
    page.screenshot(path=screenshots / "departure-fr-360.png", full_page=True)

    seat = page.locator('#coach-2 [role=gridcell][aria-label^="Place 65,"]')
    seat.tap()
    panel = page.locator("[data-seat-panel]")
    assert panel.is_visible()
    assert "Place 65" in panel.inner_text()
    assert "Voiture 2 · Étage haut" in panel.inner_text()
    assert "Libre" in panel.inner_text()
    assert seat.get_attribute("aria-selected") == "true"
    # Arrow keys move within the deck; Enter shows the focused seat.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert "Place 66" in panel.inner_text()
    assert "Occupée" in panel.inner_text()
    page.screenshot(path=screenshots / "departure-seat-fr-360.png")

    _switch_language(page, "en")
    assert page.locator("#seatmap-title").inner_text() == "Seat map"
    assert page.locator("[role=gridcell]").count() == 110
    assert page.evaluate(no_horizontal_scroll)
    page.screenshot(path=screenshots / "departure-en-360.png", full_page=True)
    page.locator('#coach-1 [role=gridcell][aria-label^="Seat 64,"]').tap()
    assert "Coach 1 · Upper deck" in page.locator("[data-seat-panel]").inner_text()
    page.screenshot(path=screenshots / "departure-seat-en-360.png")

    page.locator(".back-link").click()
    page.locator(".trip-card").first.wait_for()
    assert "€45.00" in page.locator(".trip-card").first.inner_text()
    assert page.evaluate(no_horizontal_scroll)
    page.screenshot(path=screenshots / "home-results-en-360.png", full_page=True)


def test_pages_at_desktop_size_in_both_languages(live_server, desktop, screenshots, paris_lyon):
    page = desktop
    _search(page, live_server.url, paris_lyon["date"])
    page.screenshot(path=screenshots / "home-results-fr-1280.png", full_page=True)
    _switch_language(page, "en")
    assert re.search(r"3 trains", page.locator(".results").inner_text())
    page.screenshot(path=screenshots / "home-results-en-1280.png", full_page=True)

    page.locator(".trip-card__link").first.click()
    page.locator("[role=grid]").first.wait_for()
    page.screenshot(path=screenshots / "departure-en-1280.png", full_page=True)
    page.locator('#coach-2 [role=gridcell][aria-label^="Seat 65,"]').click()
    page.screenshot(path=screenshots / "departure-seat-en-1280.png")
    _switch_language(page, "fr")
    page.screenshot(path=screenshots / "departure-fr-1280.png", full_page=True)
    page.locator('#coach-2 [role=gridcell][aria-label^="Place 65,"]').click()
    assert "Voiture 2 · Étage haut" in page.locator("[data-seat-panel]").inner_text()
    page.screenshot(path=screenshots / "departure-seat-fr-1280.png")
