import datetime as dt
import re
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone

from booking import selectors
from booking.models import AllocationState, SeatAllocation
from tests import factories

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

pytestmark = pytest.mark.django_db


def _tomorrow_at(hour: int, minute: int) -> dt.datetime:
    tomorrow = timezone.now().astimezone(PARIS).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(hour, minute), tzinfo=PARIS)


@pytest.fixture
def trip():
    paris = factories.station(code="FRPLY", name="Paris Gare de Lyon", city="Paris")
    lyon = factories.station(code="FRLPD", name="Lyon Part-Dieu", city="Lyon")
    departure = factories.departure(origin=paris, destination=lyon, departs_at=_tomorrow_at(7, 58))
    return {"paris": paris, "lyon": lyon, "departure": departure}


def _english() -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    return client


def _search(client, trip, **overrides):
    params = {
        "origin": "FRPLY",
        "destination": "FRLPD",
        "date": trip["departure"].departs_at.astimezone(PARIS).date().isoformat(),
        **overrides,
    }
    return client.get("/", params)


def test_home_is_in_french_by_default(trip):
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert "Rechercher" in html
    assert "Paris Gare de Lyon" in html


def test_home_speaks_english_to_whoever_chose_it(trip):
    response = _english().get("/")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Find trains" in html
    assert "Rechercher" not in html


def test_language_switch_posts_to_set_language_and_comes_back_to_the_same_page(trip):
    client = Client()
    html = client.get("/?origin=FRPLY").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert 'name="next" value="/?origin=FRPLY"' in html
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/?origin=FRPLY"})
    assert response.status_code == 302
    assert response["Location"] == "/?origin=FRPLY"
    assert '<html lang="en">' in client.get("/").content.decode()


def test_search_lists_the_departure_with_local_times_seats_and_prices(trip):
    html = _search(_english(), trip).content.decode()
    assert "07:58" in html
    assert "09:58" in html  # the factory's trains take two hours
    assert "2h 00" in html
    assert f"Train {trip['departure'].service_number}" in html
    assert "12 seats left" in html  # second class
    assert "6 seats left" in html  # first class
    assert "€45.00" in html
    assert "€70.00" in html
    assert f'href="/departures/{trip["departure"].id}/"' in html


def test_search_in_french_writes_prices_the_french_way(trip):
    html = _search(Client(), trip).content.decode()
    assert "45,00\u00a0€" in html
    assert "12 places restantes" in html


def test_search_with_no_train_that_day_says_so(trip):
    day_after = trip["departure"].departs_at.astimezone(PARIS).date() + dt.timedelta(days=1)
    html = _search(_english(), trip, date=day_after.isoformat()).content.decode()
    assert "No trains that day" in html
    assert "Try the next day" in html


def test_search_with_an_unknown_station_shows_the_message_not_an_error_page(trip):
    response = _search(_english(), trip, origin="FRXXX")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "Unknown station: FRXXX." in html


def test_search_with_a_bad_date_shows_a_message(trip):
    response = _search(_english(), trip, date="31/02/2026")
    assert response.status_code == 200
    assert "That date is not valid" in response.content.decode()


def test_search_in_the_past_shows_the_selectors_message_in_french(trip):
    yesterday = timezone.now().astimezone(PARIS).date() - dt.timedelta(days=1)
    html = _search(Client(), trip, date=yesterday.isoformat()).content.decode()
    assert 'role="alert"' in html
    assert "Cette date est passée." in html


def test_search_with_one_station_missing_asks_for_both(trip):
    response = _english().get("/", {"origin": "FRPLY", "destination": "", "date": ""})
    assert response.status_code == 200
    assert "Choose both the station you leave from and your destination." in (
        response.content.decode()
    )


def test_event_card_links_to_a_search_towards_its_station(trip):
    event = factories.event(station_obj=trip["lyon"], days_ahead=10)
    html = _english().get("/").content.decode()
    assert event.name in html
    assert f"?destination=FRLPD&amp;date={event.starts_on.isoformat()}" in html


def test_departure_page_draws_every_seat_with_an_aria_label(trip):
    departure = trip["departure"]
    second = list(departure.vehicle.coaches.get(number=2).seats.order_by("number"))
    factories.sell(departure, second[:2])
    SeatAllocation.objects.create(
        departure=departure,
        seat=second[2],
        state=AllocationState.HELD,
        expires_at=timezone.now() + dt.timedelta(minutes=10),
    )
    response = _english().get(f"/departures/{departure.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    cells = re.findall(r'<div role="gridcell"[^>]*>', html)
    seat_count = sum(
        len(d.seats)
        for c in selectors.departure_detail(departure_id=departure.id).coaches
        for d in c.decks
    )
    assert len(cells) == seat_count == 18
    assert all('aria-label="Seat ' in cell for cell in cells)
    labels = set(re.findall(r'role="gridcell"[^>]*aria-label="([^"]*)"', html))
    assert "Seat 1, window, facing backward, at a table for 4, second class, taken" in labels
    assert "Seat 3, aisle, facing backward, at a table for 4, second class, on hold" in labels
    assert "Seat 11, aisle, facing forward, second class, free" in labels
    assert html.count('role="grid"') == 2  # one per deck: two single-deck coaches
    assert html.count('role="row"') == 2 + 3
    assert "Refundable (€5.00 fee)" in html
    assert "Not refundable" in html


def test_departure_page_in_french(trip):
    html = Client().get(f"/departures/{trip['departure'].id}/").content.decode()
    assert "Plan des places" in html
    label = "Place 11, couloir, dans le sens de la marche, seconde classe, libre"
    assert f'aria-label="{label}"' in html


def test_unknown_departure_gets_the_friendly_404_page():
    response = _english().get("/departures/999999/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "This page has left the station" in html
    assert 'href="/"' in html


def test_unknown_api_url_answers_json_404():
    response = Client().get("/api/nope/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_a_crash_gets_the_standalone_500_page(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(selectors, "station_list", broken)
    client = _english()
    client.raise_request_exception = False
    response = client.get("/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert 'href="/"' in html
