"""The doors of disruptions: the staff API and the admin (the operator's), the trip page's
banner, its "Refund me in full" form and the REST door of that choice (the traveller's).
Each calls the same services as tests/booking/test_disruptions.py; here, who may, what
they are answered, and that repeating changes nothing."""

import datetime as dt
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from booking import disruptions
from booking.models import Departure, Disruption, DisruptionChange, Ticket
from core.l10n import format_moment
from payments.models import Refund
from tests import factories
from tests.payments import conftest as payments_conftest

stripe_sandbox_process = payments_conftest.stripe_sandbox_process
stripe_sandbox = payments_conftest.stripe_sandbox

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create(username="operator", is_staff=True, is_superuser=True)


# --- The staff API --------------------------------------------------------------------------


def test_only_staff_who_change_departures_may_disrupt(django_user_model):
    departure = factories.departure()
    staff_without_permission = django_user_model.objects.create(username="care", is_staff=True)
    url = f"/api/staff/departures/{departure.pk}/cancel/"

    assert APIClient().post(url).status_code == 403
    assert api_for(factories.user("Ana")).post(url).status_code == 403
    assert api_for(staff_without_permission).post(url).status_code == 403
    departure.refresh_from_db()
    assert departure.status == Departure.Status.SCHEDULED


def test_cancel_twice_through_the_api_changes_nothing_the_second_time(operator):
    departure = factories.departure()
    url = f"/api/staff/departures/{departure.pk}/cancel/"

    first = api_for(operator).post(url, {"reason": "Strike"}, format="json")
    second = api_for(operator).post(url, {"reason": "Strike"}, format="json")

    assert first.status_code == 200, first.content
    assert first.json()["changed"] is True
    assert first.json()["disruption"]["kind"] == "cancellation"
    assert second.json()["changed"] is False
    assert DisruptionChange.objects.count() == 1


def test_a_delay_through_the_api_then_on_a_cancelled_train_is_refused(operator):
    departure = factories.departure()
    expected = departure.arrives_at + dt.timedelta(minutes=45)
    url = f"/api/staff/departures/{departure.pk}/delay/"

    answer = api_for(operator).post(
        url, {"expected_arrival_at": expected.isoformat(), "reason": "Cows"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["disruption"]["delay_minutes"] == 45

    nothing = api_for(operator).post(url, {}, format="json")
    assert nothing.status_code == 400

    disruptions.departure_cancel(departure_id=departure.pk)
    refused = api_for(operator).post(
        url,
        {"expected_arrival_at": (expected + dt.timedelta(minutes=5)).isoformat()},
        format="json",
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "departure_cancelled"


def test_the_disruptions_of_a_departure_with_their_history(operator):
    departure = factories.departure()
    disruptions.departure_vehicle_swap(departure_id=departure.pk, vehicle_id=factories.vehicle().pk)
    answer = api_for(operator).get(f"/api/staff/departures/{departure.pk}/disruptions/")
    assert answer.status_code == 200
    (one,) = answer.json()
    assert one["kind"] == "vehicle_swap"
    assert [c["what"] for c in one["changes"]] == ["vehicle_swapped"]
    assert api_for(operator).get("/api/staff/departures/999999/disruptions/").status_code == 404


# --- The admin ------------------------------------------------------------------------------


def test_the_operator_cancels_from_the_departure_page(client, operator):
    departure = factories.departure()
    client.force_login(operator)
    url = reverse("admin:booking_departure_disrupt", args=[departure.pk])

    page = client.get(reverse("admin:booking_departure_change", args=[departure.pk]))
    assert url in page.content.decode()
    answer = client.post(url, {"action": "cancel", "reason": "Storm"})

    assert answer.status_code == 302
    departure.refresh_from_db()
    assert departure.status == Departure.Status.CANCELLED
    assert Disruption.objects.get(departure=departure).reason == "Storm"
    assert "Storm" in client.get(url).content.decode()


def test_the_admin_refuses_a_delay_on_a_cancelled_train_with_a_message(client, operator):
    departure = factories.departure()
    disruptions.departure_cancel(departure_id=departure.pk)
    client.force_login(operator)
    at = (departure.arrives_at + dt.timedelta(minutes=70)).strftime("%Y-%m-%d %H:%M")
    answer = client.post(
        reverse("admin:booking_departure_disrupt", args=[departure.pk]),
        {"action": "delay", "expected_arrival_at": at},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert answer.status_code == 200
    assert 'id="disrupt-error"' in answer.content.decode()
    assert not Disruption.objects.filter(kind="delay").exists()


# --- The traveller's banner and choice -----------------------------------------------------


@pytest.fixture
def cancelled_booking(stripe_sandbox):
    trip, people, departure, _checkout = factories.booked_by_organiser(stripe_sandbox, travellers=2)
    disruptions.departure_cancel(departure_id=departure.pk, reason="Landslide")
    disruptions.disruptions_apply()
    return trip, people, departure


def test_the_trip_page_shows_the_banner_and_the_refund_form(client, cancelled_booking):
    trip, people, departure = cancelled_booking
    client.force_login(people[1])
    page = client.get(reverse("trip", args=[trip.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[1])
    assert f"Train {departure.service_number} is cancelled" in page
    assert "Landslide" in page
    assert reverse("ticket_disruption_refund", args=[ticket.pk]) in page

    french = client.get(reverse("trip", args=[trip.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert f"Le train {departure.service_number} est supprimé" in french


def test_the_banner_writes_its_dates_as_each_language_writes_them(client, cancelled_booking):
    # Issue 22 point 9: no "Dec. 7, 2026, 2:36 a.m." next to "Sat 19 Dec · 07:00".
    trip, people, departure = cancelled_booking
    client.force_login(people[1])
    departs = departure.departs_at.astimezone(zoneinfo.ZoneInfo(departure.origin.time_zone))
    for language in ("en", "fr"):
        page = client.get(
            reverse("trip", args=[trip.pk]), HTTP_ACCEPT_LANGUAGE=language
        ).content.decode()
        banner = page[page.index("data-disruption-banner") :]
        assert format_moment(departs, year=True, language=language) in banner
        assert "a.m." not in banner and "p.m." not in banner


def test_the_refund_form_refunds_once_and_the_page_says_so(client, cancelled_booking):
    trip, people, _departure = cancelled_booking
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[1])
    client.force_login(people[1])
    url = reverse("ticket_disruption_refund", args=[ticket.pk])

    first = client.post(url, HTTP_ACCEPT_LANGUAGE="en")
    second = client.post(url, HTTP_ACCEPT_LANGUAGE="en")

    assert first.status_code == second.status_code == 302
    assert Refund.objects.filter(ticket=ticket).count() == 1
    page = client.get(first["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "You chose the refund" in page


def test_someone_elses_refund_is_not_found_on_the_page_and_the_api(client, cancelled_booking):
    trip, people, _departure = cancelled_booking
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[1])
    client.force_login(people[0])
    assert client.post(reverse("ticket_disruption_refund", args=[ticket.pk])).status_code == 404
    answer = api_for(people[0]).post(f"/api/tickets/{ticket.pk}/disruption-refund/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "choice_not_found"
    assert not Refund.objects.filter(ticket=ticket).exists()


def test_the_refund_api_answers_the_refund_then_already_made(cancelled_booking):
    trip, people, _departure = cancelled_booking
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[0])
    url = f"/api/tickets/{ticket.pk}/disruption-refund/"

    first = api_for(people[0]).post(url)
    second = api_for(people[0]).post(url)

    assert first.status_code == 200, first.content
    assert first.json()["refund"] == {
        "amount_cents": ticket.price_cents,
        "currency": "EUR",
        "state": "succeeded",
    }
    assert first.json()["ticket_cancelled"] is True
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "choice_already_made"


def test_the_banner_takes_the_group_through_rerouting(client, cancelled_booking):
    trip, (olivia, friend), departure = cancelled_booking
    other = (
        Departure.objects.filter(origin=departure.origin, destination=departure.destination)
        .exclude(pk=departure.pk)
        .get()
    )
    disruption = Disruption.objects.get(departure=departure)
    client.force_login(olivia)
    page = client.get(reverse("trip", args=[trip.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'data-reroute-propose="{other.pk}"' in page

    client.post(
        reverse("trip_reroute_propose", args=[trip.pk, disruption.pk]),
        {"departure_id": other.pk},
    )
    for person in (olivia, friend):
        client.force_login(person)
        ticket = Ticket.objects.get(booking__trip=trip, traveller=person, state="valid")
        client.post(reverse("ticket_reroute", args=[ticket.pk]))
    page = client.get(reverse("trip", args=[trip.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "data-reroute-seat" in page
    client.post(reverse("trip_reroute_seat", args=[trip.pk]))

    page = client.get(reverse("trip", args=[trip.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.count("data-rerouted") == 1  # the viewer's own
    valid = Ticket.objects.filter(booking__trip=trip, state="valid")
    assert set(valid.values_list("allocation__departure_id", flat=True)) == {other.pk}
    assert valid.count() == 2


def test_a_refused_proposal_is_a_message_on_the_trip_page(client, cancelled_booking):
    trip, (olivia, _friend), departure = cancelled_booking
    disruption = Disruption.objects.get(departure=departure)
    client.force_login(olivia)
    answer = client.post(
        reverse("trip_reroute_propose", args=[trip.pk, disruption.pk]),
        {"departure_id": departure.pk},
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert "does not run between the same stations" in answer.content.decode()


def test_rerouting_through_the_api_first_proposal_wins(cancelled_booking):
    trip, (olivia, friend), departure = cancelled_booking
    disruption = Disruption.objects.get(departure=departure)
    url = f"/api/trips/{trip.pk}/disruptions/{disruption.pk}/reroute/"
    read = api_for(friend).get(url)
    assert read.status_code == 200, read.content
    (alternative,) = read.json()["alternatives"]
    assert read.json()["proposed_departure_id"] is None
    assert api_for(factories.user("Stranger")).get(url).status_code == 404

    first = api_for(olivia).post(url, {"departure_id": alternative["departure_id"]}, format="json")
    second = api_for(olivia).post(url, {"departure_id": alternative["departure_id"]}, format="json")
    assert first.status_code == 200, first.content
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "reroute_already_proposed"

    ticket = Ticket.objects.get(booking__trip=trip, traveller=friend)
    assert api_for(friend).post(f"/api/tickets/{ticket.pk}/reroute/").status_code == 200
    seated = api_for(friend).post(f"/api/trips/{trip.pk}/reroute/seat/")
    assert seated.status_code == 200, seated.content
    (new_id,) = seated.json()["ticket_ids"]
    assert Ticket.objects.get(pk=new_id).allocation.departure_id == alternative["departure_id"]


def test_the_banner_of_an_undisturbed_trip_costs_three_queries(django_assert_num_queries):
    from booking.disruption_selectors import trip_banners

    trip, people, _departures = factories.planned_trip(travellers=2)
    with django_assert_num_queries(3):
        assert trip_banners(trip=trip, user=people[0]) == []


def test_the_late_train_banner_takes_compensation_as_credit_then_shows_it_on_the_ticket(
    client, stripe_sandbox, django_capture_on_commit_callbacks
):
    """Art. 19(4): the banner's "As credit for my next trip", then the compensation made
    as credit, on the banner and on the ticket, in English and French; asked again: a
    message, nothing changes."""
    from payments.models import Compensation

    trip, people, departure, _checkout = factories.booked_by_organiser(stripe_sandbox, travellers=2)
    late, _changed = disruptions.departure_delay(
        departure_id=departure.pk,
        expected_arrival_at=departure.arrives_at + dt.timedelta(minutes=80),
    )
    disruptions.disruptions_apply()
    client.force_login(people[1])
    trip_url = reverse("trip", args=[trip.pk])
    page = client.get(trip_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-compensation-choose="credit"' in page
    url = reverse("trip_compensation_form", args=[trip.pk, late.pk])
    chosen = client.post(url, {"form": "credit"}, HTTP_ACCEPT_LANGUAGE="en")
    assert chosen.status_code == 302
    page = client.get(chosen["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "you get it as credit for your next trip" in page
    assert 'data-compensation-choose="card"' in page

    departs = timezone.now() - dt.timedelta(hours=5)
    Departure.objects.filter(pk=departure.pk).update(
        departs_at=departs, arrives_at=departs + dt.timedelta(hours=2)
    )
    disruptions.departure_delay(
        departure_id=departure.pk, actual_arrival_at=departs + dt.timedelta(hours=2, minutes=75)
    )
    with django_capture_on_commit_callbacks(execute=True):
        disruptions.disruptions_apply()
    ticket = Ticket.objects.get(booking__trip=trip, traveller=people[1])
    assert Compensation.objects.get(ticket=ticket).state == "credited"
    assert not Refund.objects.filter(ticket=ticket).exists()

    page = client.get(trip_url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-compensation="credited"' in page
    assert 'data-ticket-compensation="credited"' in page
    assert "credit for a next trip" in page
    french = client.get(trip_url, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "en avoir pour un prochain voyage" in french
    assert "Votre indemnité : un avoir de" in french

    again = client.post(url, {"form": "card"}, HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert "has already been made" in again.content.decode()
    assert Compensation.objects.get(ticket=ticket).state == "credited"
