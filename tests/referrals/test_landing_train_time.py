"""Issue 18 point 9: the shared card carries the booked train's date and time, not the
search window, on the share preview, the Open Graph tags and the landing page."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone, translation

from referrals.images import image_lines
from referrals.selectors import landing_get
from referrals.services import share_link_get_or_create
from tests import factories
from tests.referrals.booked import book
from tests.referrals.helpers import BROWSER_UA, FACEBOOK_CRAWLER_UA, open_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked_link():
    day = timezone.localdate() + dt.timedelta(days=10)
    trip = factories.trip(outbound_from=day, outbound_to=day + dt.timedelta(days=2))
    friend = factories.member(trip, "Ana Amie")
    book(trip, [trip.created_by, friend])  # the 08:07 train of the first day
    link = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="facebook")
    return link, day


def _expected(day, language):
    from core.l10n import format_moment

    when = timezone.make_aware(dt.datetime.combine(day, dt.time(8, 7)))
    return format_moment(timezone.localtime(when), year=True, language=language)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_card_s_when_is_the_booked_train_s_day_and_time(booked_link, language):
    link, day = booked_link
    with translation.override(language):
        lines = image_lines(landing_get(code=link.code))
    assert lines["when"] == _expected(day, language)
    assert "08:07" in lines["when"]


def test_landing_page_and_open_graph_carry_the_train_time(booked_link):
    link, day = booked_link
    page = Client(HTTP_USER_AGENT=BROWSER_UA, headers={"Accept-Language": "fr"}).get(
        f"/r/{link.code}/"
    )
    html = page.content.decode()
    assert _expected(day, "fr") in html
    crawler = Client(HTTP_USER_AGENT=FACEBOOK_CRAWLER_UA, headers={"Accept-Language": "fr"})
    tags = open_graph(crawler.get(f"/r/{link.code}/").content.decode())
    assert _expected(day, "fr") in tags["og:title"]


def test_before_a_train_is_chosen_the_card_shows_the_days():
    day = dt.date(2026, 12, 10)
    trip = factories.trip(outbound_from=day, outbound_to=day + dt.timedelta(days=1))
    link = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="facebook")
    with translation.override("fr"):
        assert image_lines(landing_get(code=link.code))["when"] == "10–11 déc. 2026"
