import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.mark.django_db
def test_departure_detail_api_lists_every_seat_of_the_vehicle_with_its_status():
    dep = factories.departure()
    seats = list(dep.vehicle.coaches.get(number=2).seats.order_by("number")[:2])
    factories.sell(dep, seats)
    body = APIClient().get(f"/api/departures/{dep.id}/").json()
    statuses = {
        s["id"]: s["status"]
        for coach in body["coaches"]
        for deck in coach["decks"]
        for s in deck["seats"]
    }
    assert len(statuses) == 6 + 12
    assert statuses[seats[0].id] == "sold"
    assert sum(1 for s in statuses.values() if s == "free") == 16
