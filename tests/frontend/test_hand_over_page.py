"""Destructive actions ask first and say who (issue 22, point 6): "Make organiser" opens a
confirmation naming the person and what changes; nothing is handed over by the GET; the
POST hands over and its message names the new organiser."""

import pytest
from django.urls import reverse

from groups.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def organiser_of(trip):
    return Membership.objects.get(group=trip.group, role="organiser", status="active").user_id


def test_make_organiser_asks_first_naming_the_person(client):
    trip = factories.trip()
    olivia = trip.created_by
    ana = factories.member(trip, "Ana Lima")
    client.force_login(olivia)
    page = client.get(reverse("trip", args=[trip.pk])).content.decode()
    confirm = reverse("trip_member_make_organiser_confirm", args=[trip.pk, ana.pk])
    assert f'href="{confirm}" data-member-hand-over' in page

    asked = client.get(confirm)
    assert asked.status_code == 200
    html = asked.content.decode()
    assert "Make Ana Lima the organiser of" in html and trip.title in html
    assert organiser_of(trip) == olivia.pk  # a GET hands nothing over

    done = client.post(
        reverse("trip_member_make_organiser", args=[trip.pk]), {"user_id": ana.pk}, follow=True
    )
    assert organiser_of(trip) == ana.pk
    assert "Ana Lima organises the trip now." in done.content.decode()


def test_the_confirmation_is_the_organisers_and_about_a_traveller(client):
    trip = factories.trip()
    olivia = trip.created_by
    ana = factories.member(trip, "Ana")
    client.force_login(ana)
    assert (
        client.get(
            reverse("trip_member_make_organiser_confirm", args=[trip.pk, olivia.pk])
        ).status_code
        == 403
    )
    client.force_login(olivia)
    for someone in (olivia.pk, 999999):
        url = reverse("trip_member_make_organiser_confirm", args=[trip.pk, someone])
        assert client.get(url).status_code == 404
