import json

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from booking import seatmaps
from booking.models import (
    Coach,
    Departure,
    Event,
    NeighbourKind,
    Seat,
    SeatAllocation,
    SeatNeighbour,
    Station,
    Vehicle,
)
from tests import factories

MODELS = (
    "station",
    "vehicle",
    "coach",
    "departure",
    "fareclass",
    "passengertype",
    "discountcard",
    "event",
    "seatallocation",
)


@pytest.fixture
def client(client, django_user_model):
    # A superuser without a password: hashing one costs a second per test.
    operator = django_user_model.objects.create(
        username="operator", is_staff=True, is_superuser=True
    )
    client.force_login(operator)
    # The assertions read the English source of the messages.
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def catalog():
    departure = factories.departure()
    factories.sell(departure, departure.vehicle.coaches.get(number=2).seats.all()[:3])
    factories.passenger_types()
    factories.discount_cards()
    factories.event(station_obj=departure.destination)
    return departure


def changelist(model: str) -> str:
    return reverse(f"admin:booking_{model}_changelist")


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_changelist_and_change_page_answer_for_every_model(client, catalog, model):
    response = client.get(changelist(model))
    assert response.status_code == 200

    obj = response.context["cl"].result_list[0]
    change = client.get(reverse(f"admin:booking_{model}_change", args=[obj.pk]))
    assert change.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("model", [m for m in MODELS if m != "seatallocation"])
def test_add_page_answers_for_every_model_an_operator_may_add(client, model):
    assert client.get(reverse(f"admin:booking_{model}_add")).status_code == 200


@pytest.mark.django_db
def test_seat_allocations_are_an_audit_view_that_cannot_be_edited(client, catalog):
    allocation = SeatAllocation.objects.first()

    assert client.get(reverse("admin:booking_seatallocation_add")).status_code == 403
    page = client.get(reverse("admin:booking_seatallocation_change", args=[allocation.pk]))
    assert page.context["has_change_permission"] is False
    assert client.get(changelist("seatallocation") + "?state__exact=sold").status_code == 200


def add_departures(n: int, vehicle) -> None:
    for _ in range(n):
        departure = factories.departure(vehicle_obj=vehicle)
        factories.sell(departure, Seat.objects.filter(coach__vehicle=vehicle)[:2])


@pytest.mark.django_db
def test_departure_changelist_costs_the_same_queries_for_2_or_12_departures(client):
    vehicle = factories.vehicle()
    add_departures(2, vehicle)
    client.get(changelist("departure"))  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(changelist("departure")).status_code == 200

    add_departures(10, vehicle)
    with CaptureQueriesContext(connection) as many:
        response = client.get(changelist("departure"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 12
    assert len(many) == len(few)
    assert len(many) <= 15


@pytest.mark.django_db
def test_departure_changelist_shows_local_time_and_seats_sold_and_finds_by_station_code(
    client, catalog
):
    response = client.get(changelist("departure"), {"q": catalog.origin.code})

    rows = response.context["cl"].result_list
    assert [d.pk for d in rows] == [catalog.pk]
    assert rows[0].sold_total == 3
    local = catalog.departs_at.astimezone(catalog.origin.zone)
    assert f"{local:%H:%M}" in response.content.decode()


@pytest.mark.django_db
def test_cancel_action_cancels_the_selected_scheduled_departures(client, catalog):
    other = factories.departure(vehicle_obj=catalog.vehicle)

    response = client.post(
        changelist("departure"),
        {"action": "cancel_departures", "_selected_action": [catalog.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 departure cancelled." in response.content.decode()
    catalog.refresh_from_db()
    other.refresh_from_db()
    assert catalog.status == Departure.Status.CANCELLED
    assert other.status == Departure.Status.SCHEDULED


@pytest.mark.django_db
def test_vehicle_changelist_links_to_the_import_and_summarises_the_seat_map(client, catalog):
    listing = client.get(changelist("vehicle"))
    change = client.get(reverse("admin:booking_vehicle_change", args=[catalog.vehicle.pk]))

    assert reverse("admin:booking_vehicle_import") in listing.content.decode()
    row = listing.context["cl"].result_list[0]
    assert (row.coach_total, row.seat_total, row.departure_total) == (2, 18, 1)
    assert "Total" in change.content.decode()


@pytest.mark.django_db
def test_import_view_creates_a_vehicle_from_a_posted_json_file(client):
    upload = SimpleUploadedFile(
        "duplex.json", seatmaps.example_json().encode(), content_type="application/json"
    )

    response = client.post(reverse("admin:booking_vehicle_import"), {"file": upload}, follow=True)

    vehicle = Vehicle.objects.get(code="tgv-duplex-2")
    assert response.redirect_chain[-1][0] == reverse(
        "admin:booking_vehicle_change", args=[vehicle.pk]
    )
    assert "created: 2 coaches, 114 seats" in response.content.decode()
    assert Seat.objects.filter(coach__vehicle=vehicle).count() == 114
    assert LogEntry.objects.filter(object_id=str(vehicle.pk)).exists()


@pytest.mark.django_db
def test_import_view_accepts_pasted_json(client):
    response = client.post(
        reverse("admin:booking_vehicle_import"), {"text": seatmaps.example_json()}
    )

    assert response.status_code == 302
    assert Vehicle.objects.filter(code="tgv-duplex-2").exists()


@pytest.mark.django_db
def test_import_view_shows_an_error_for_bad_json_and_creates_nothing(client):
    upload = SimpleUploadedFile("bad.json", b'{"code": "x",\n "name": }')

    response = client.post(reverse("admin:booking_vehicle_import"), {"file": upload})

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Invalid JSON at line 2, column 10") for m in messages)
    assert not Vehicle.objects.exists()
    assert not Coach.objects.exists()


@pytest.mark.django_db
def test_import_view_lists_each_invalid_value_and_creates_nothing(client):
    data = seatmaps.example_seat_map()
    data["coaches"][1]["seats"][3]["position"] = "x"
    upload = SimpleUploadedFile("map.json", json.dumps(data).encode())

    response = client.post(reverse("admin:booking_vehicle_import"), {"file": upload})

    assert response.status_code == 200
    assert 'coaches[1].seats[3].position: "x" is not a valid choice.' in response.context["errors"]
    assert not Vehicle.objects.exists()


@pytest.mark.django_db
def test_import_view_refuses_a_new_map_for_a_vehicle_with_departures(client, catalog):
    data = factories.small_seat_map(catalog.vehicle.code, second_rows=4)
    before = Seat.objects.count()

    response = client.post(reverse("admin:booking_vehicle_import"), {"text": json.dumps(data)})

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert "This vehicle has departures; its seat map cannot be replaced." in messages
    assert Seat.objects.count() == before


@pytest.mark.django_db
def test_import_view_asks_for_a_file_or_text(client):
    response = client.post(reverse("admin:booking_vehicle_import"), {})

    assert response.status_code == 200
    assert response.context["form"].errors
    assert client.get(reverse("admin:booking_vehicle_import_example")).status_code == 200


def inline_post_data(response) -> dict:
    """The change form's current values as the browser would post them."""
    data = {}
    for field in response.context["adminform"].form:
        value = field.value()
        if value is not None and value is not False:
            data[field.html_name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for form in [formset.management_form, *formset.forms]:
            for field in form:
                value = field.value()
                if value is not None and value is not False:
                    data[field.html_name] = value
    return data


@pytest.mark.django_db
def test_editing_seats_in_the_coach_admin_derives_the_neighbours_again(client):
    vehicle = factories.vehicle()
    coach = vehicle.coaches.get(number=2)
    seat = coach.seats.get(number=1)  # row 1, window, side by side with seat 2
    url = reverse("admin:booking_coach_change", args=[coach.pk])
    data = inline_post_data(client.get(url))
    index = next(i for i in range(coach.seats.count()) if data.get(f"seats-{i}-id") == seat.pk)
    data[f"seats-{index}-row"] = 9  # moved to a row of its own

    response = client.post(url, data)

    assert response.status_code == 302, response.context["errors"]
    seat.refresh_from_db()
    assert seat.row == 9
    assert not SeatNeighbour.objects.filter(seat=seat).exists()
    second = coach.seats.get(number=2)
    assert not SeatNeighbour.objects.filter(
        seat=second, kind=NeighbourKind.SIDE_BY_SIDE, neighbour=seat
    ).exists()
    assert SeatNeighbour.objects.filter(seat__coach=coach).count() > 0


@pytest.mark.django_db
def test_seats_of_a_vehicle_with_departures_are_read_only_in_the_coach_admin(client, catalog):
    coach = catalog.vehicle.coaches.get(number=2)

    response = client.get(reverse("admin:booking_coach_change", args=[coach.pk]))

    inline = response.context["inline_admin_formsets"][0]
    assert inline.has_change_permission is False
    assert inline.has_add_permission is False
    assert response.context["has_change_permission"] is False
    assert 'name="seats-0-row"' not in response.content.decode()
    assert 'name="vehicle"' not in response.content.decode()


@pytest.mark.django_db
def test_vehicle_of_a_departure_with_sold_seats_cannot_be_swapped(client, catalog):
    empty = factories.departure(vehicle_obj=catalog.vehicle)

    sold = client.get(reverse("admin:booking_departure_change", args=[catalog.pk]))
    unsold = client.get(reverse("admin:booking_departure_change", args=[empty.pk]))

    assert "vehicle" in sold.context["adminform"].readonly_fields
    assert 'name="vehicle"' in unsold.content.decode()


@pytest.mark.django_db
def test_station_and_event_changelists_search(client, catalog):
    station = Station.objects.get(pk=catalog.origin_id)
    found = client.get(changelist("station"), {"q": station.code})
    assert list(found.context["cl"].result_list) == [station]

    event = Event.objects.get()
    assert client.get(changelist("event"), {"q": event.name}).context["cl"].result_count == 1
