"""Small promises (issue 22, point 12): a private trip's "not found" is the product's own
page, in the demo (debug on) too, and it offers a logged-out visitor to log in; a trip
started from an event leaves on the event's day; the page that shows a new invitation
link (shown only once) opens on it."""

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def private_trip():
    return factories.trip(privacy="private")


def test_a_logged_out_visitor_is_offered_to_log_in(client, settings, private_trip):
    settings.DEBUG = True  # as with `make run`
    url = reverse("trip", args=[private_trip.pk])
    answer = client.get(url)
    assert answer.status_code == 404
    html = answer.content.decode()
    assert "This page has left the station" in html  # ours, not Django's debug page
    assert "data-not-found-login" in html
    assert f"{reverse('account_login')}?next=/trips/{private_trip.pk}/" in html


def test_a_logged_in_stranger_gets_the_page_without_the_login_offer(client, private_trip):
    client.force_login(factories.user("Stranger"))
    answer = client.get(reverse("trip", args=[private_trip.pk]))
    assert answer.status_code == 404
    assert "This page has left the station" in answer.content.decode()
    assert "data-not-found-login" not in answer.content.decode()


def test_the_api_still_answers_json(client, settings, private_trip):
    settings.DEBUG = True
    answer = client.get(f"/api/trips/{private_trip.pk}/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "trip_not_found"


def test_a_trip_started_from_an_event_leaves_on_the_events_day(client):
    event = factories.event(days_ahead=12)
    client.force_login(factories.user("Org"))
    html = client.get(reverse("trip_new") + f"?event={event.slug}").content.decode()
    assert f'name="outbound_from" value="{event.starts_on.isoformat()}"' in html
    assert f'name="return_from" value="{event.ends_on.isoformat()}"' in html


def test_the_new_invitation_link_is_where_the_page_opens(client):
    trip = factories.trip()
    organiser = trip.created_by
    client.force_login(organiser)
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    assert f'action="{reverse("trip_invite", args=[trip.pk])}#invite-link"' in page
    shown = client.post(reverse("trip_invite", args=[trip.pk])).content.decode()
    assert 'id="invite-link"' in shown
