"""Issue 18 point 11: the staff dashboard is reachable from the admin index and the staff
header, says when its figures were computed and refreshes today's, labels its date filters,
and writes money in euros."""

import re

import pytest
from django.test import Client
from django.utils import timezone, translation

from referrals.models import Click, RollupRun, Visitor
from referrals.services import share_link_get_or_create
from tests import factories
from tests.referrals.test_dashboard import _staff

pytestmark = pytest.mark.django_db

PAGE = "/staff/referrals/"


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def _client(user) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(user)
    return client


def test_the_admin_index_and_the_header_link_to_it_for_staff_who_may_see_it():
    staff = _staff()
    staff.is_superuser = False
    staff.save()
    client = _client(staff)
    admin = client.get("/admin/").content.decode()
    assert f'href="{PAGE}" data-admin-dashboard-link' in admin
    home = client.get("/").content.decode()
    assert f'href="{PAGE}" data-staff-dashboard-link' in home

    other = _client(_staff("Otto Other", permitted=False))
    assert "data-admin-dashboard-link" not in other.get("/admin/").content.decode()
    assert "data-staff-dashboard-link" not in other.get("/").content.decode()


def test_the_page_says_when_figures_were_computed_and_refreshes_today_s():
    client = _client(_staff())
    first = client.get(PAGE).content.decode()
    assert "Figures not computed yet." in first
    assert 'name="from"' in first and "From (date)" in first and "To (date)" in first

    trip = factories.trip()
    link = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="facebook")
    visitor = Visitor.objects.create(consent="refused")
    Click.objects.create(
        link=link,
        visitor=visitor,
        channel=link.channel,
        at=timezone.now(),
        ip_hash="s",
        is_preview=False,
    )
    refreshed = client.post(f"{PAGE}refresh/", {"query": "channel=facebook"})
    assert refreshed.status_code == 302
    assert refreshed["Location"] == f"{PAGE}?channel=facebook"
    run = RollupRun.objects.get()
    assert run.last_day == timezone.localdate()
    page = client.get(refreshed["Location"]).content.decode()
    assert "Figures computed on" in page
    assert 'data-metric="visitors">1<' in page


def test_refreshing_is_for_staff_only_and_by_post():
    assert _client(_staff("Otto Other", permitted=False)).post(f"{PAGE}refresh/").status_code == 403
    assert _client(_staff()).get(f"{PAGE}refresh/").status_code == 405
    assert not RollupRun.objects.exists()


def test_the_range_heading_and_money_are_written_for_people():
    client = _client(_staff())
    page = client.get(PAGE, {"from": "2026-11-01", "to": "2026-11-30"}).content.decode()
    assert "Figures for 1–30 Nov 2026" in page
    assert re.search(r'data-metric="revenue_cents">€0\.00<', page)
    assert "(cents)" not in page
