"""The landing page stays cheap (referrals/landing_page.py): its link's parts are cached,
the page around them is each request's own. These tests check what must never be shared
between visitors or outlive a change."""

import re
import time

import pytest
from django.contrib.messages import constants as message_levels
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.core.cache.backends import locmem
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from booking.models import Trip
from referrals.models import Click, Visitor
from referrals.selectors import LANDING_CACHE_SECONDS
from referrals.services import share_link_get_or_create
from tests import factories
from tests.referrals.helpers import BROWSER_UA, FACEBOOK_CRAWLER_UA, browser, open_graph

pytestmark = pytest.mark.django_db

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _link(*, privacy="private", channel="facebook"):
    trip = factories.trip(privacy=privacy)
    return share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel=channel)


def _tokens(html: str) -> list[str]:
    return _TOKEN.findall(html)


def _without_tokens(html: str) -> str:
    return _TOKEN.sub('name="csrfmiddlewaretoken" value="…"', html)


def test_every_visitor_of_a_cached_page_gets_a_csrf_token_of_their_own_that_works():
    link = _link()
    first, second = browser("198.51.100.1"), browser("198.51.100.2")
    for client in (first, second):
        client.handler.enforce_csrf_checks = True
    first_page = first.get(f"/r/{link.code}/").content.decode()
    second_page = second.get(f"/r/{link.code}/").content.decode()
    assert "data-consent-banner" in second_page
    first_tokens, second_tokens = set(_tokens(first_page)), set(_tokens(second_page))
    assert len(first_tokens) == len(second_tokens) == 1  # one token for all the forms
    assert first_tokens != second_tokens
    assert first.cookies["csrftoken"].value != second.cookies["csrftoken"].value
    # Each browser's token answers its own cookie: the banner's form goes through.
    response = second.post(
        "/r/consent/",
        {
            "decision": "granted",
            "next": f"/r/{link.code}/",
            "csrfmiddlewaretoken": second_tokens.pop(),
        },
    )
    assert response.status_code == 302
    assert Visitor.objects.filter(consent="granted").count() == 1
    # Another browser's token is refused.
    stranger = browser("198.51.100.3")
    stranger.handler.enforce_csrf_checks = True
    stranger.get(f"/r/{link.code}/")
    refused = stranger.post(
        "/r/consent/", {"decision": "granted", "csrfmiddlewaretoken": first_tokens.pop()}
    )
    assert refused.status_code == 403


def test_a_second_browser_on_a_seen_link_costs_its_two_inserts_and_no_read():
    link = _link()
    browser("198.51.100.1").get(f"/r/{link.code}/")
    with CaptureQueriesContext(connection) as queries:
        response = browser("198.51.100.2").get(f"/r/{link.code}/")
    assert response.status_code == 200
    statements = [q["sql"].split()[0].upper() for q in queries]
    assert statements == ["INSERT", "INSERT"]
    assert Click.objects.count() == 2


def test_a_seen_links_page_outlives_hundreds_of_other_cache_entries():
    # What a few hundred other links' pages and the click limiter's counters put in the
    # cache. Django's local-memory default (300 entries) culled a third of them each time
    # it filled up, this link's page and data with them: a read and a render again.
    link = _link()
    browser("198.51.100.1").get(f"/r/{link.code}/")
    for n in range(1_000):
        cache.set(f"tests.other-entry.{n}", n, LANDING_CACHE_SECONDS)
    with CaptureQueriesContext(connection) as queries:
        response = browser("198.51.100.2").get(f"/r/{link.code}/")
    assert response.status_code == 200
    assert [q["sql"].split()[0].upper() for q in queries] == ["INSERT", "INSERT"]


def test_the_banner_of_one_visitor_is_not_shown_to_another():
    link = _link()
    assert "data-consent-banner" in browser("198.51.100.1").get(f"/r/{link.code}/").content.decode()
    decided = browser("198.51.100.2")
    decided.cookies["sbs_consent"] = "refused"
    assert "data-consent-banner" not in decided.get(f"/r/{link.code}/").content.decode()
    crawler = Client(HTTP_USER_AGENT=FACEBOOK_CRAWLER_UA)
    assert "data-consent-banner" not in crawler.get(f"/r/{link.code}/").content.decode()
    assert "data-consent-banner" in browser("198.51.100.3").get(f"/r/{link.code}/").content.decode()


def test_someone_logged_in_sees_their_own_header_on_a_cached_page():
    link = _link()
    browser().get(f"/r/{link.code}/")  # cached for anonymous visitors
    nina = factories.user("Nina Traveller")
    client = Client(HTTP_USER_AGENT=BROWSER_UA)
    client.force_login(nina)
    page = client.get(f"/r/{link.code}/").content.decode()
    assert "Nina" in page and reverse("account_logout") in page
    tokens = _tokens(page)
    assert tokens and len(set(tokens)) == 1
    # …and the next anonymous visitor does not.
    assert "Nina" not in browser("198.51.100.9").get(f"/r/{link.code}/").content.decode()


def test_a_waiting_message_is_shown_on_the_landing_page():
    link = _link()
    browser().get(f"/r/{link.code}/")
    client = browser("198.51.100.4")
    storage = CookieStorage(HttpRequest())
    storage.add(message_levels.INFO, "A message for this visitor only")
    response = HttpResponse()
    storage.update(response)
    client.cookies[storage.cookie_name] = response.cookies[storage.cookie_name].value
    assert "A message for this visitor only" in client.get(f"/r/{link.code}/").content.decode()
    assert (
        "A message for this visitor only"
        not in browser("198.51.100.5").get(f"/r/{link.code}/").content.decode()
    )


def test_switching_the_incentive_or_the_app_id_shows_at_once(settings):
    link = _link()
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": False}
    settings.FACEBOOK_APP_ID = ""
    page = browser().get(f"/r/{link.code}/").content.decode()
    assert "data-referral-disclosure" not in page and "fb:app_id" not in open_graph(page)
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": True}
    page = browser("198.51.100.6").get(f"/r/{link.code}/").content.decode()
    assert "data-referral-disclosure" in page and "fb:app_id" not in open_graph(page)
    settings.FACEBOOK_APP_ID = "424242"
    page = browser("198.51.100.7").get(f"/r/{link.code}/").content.decode()
    assert open_graph(page)["fb:app_id"] == "424242"


def test_a_change_to_the_trip_shows_once_the_landing_entries_expire(monkeypatch, settings):
    """The page is kept as long as the landing's data (LANDING_CACHE_SECONDS): within that
    delay it may show the trip as it was; after it, as it is."""
    if not settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        pytest.skip("moves the local-memory cache's clock")
    link = _link(privacy="public")
    assert "data-referral-join" in browser().get(f"/r/{link.code}/").content.decode()
    Trip.objects.filter(pk=link.trip_id).update(status=Trip.Status.CANCELLED)
    # The landing's data, then the page made from it, each kept LANDING_CACHE_SECONDS:
    # two delays at most and the change shows.
    real = time.time
    monkeypatch.setattr(locmem.time, "time", lambda: real() + 2 * LANDING_CACHE_SECONDS + 1)
    page = browser("198.51.100.7").get(f"/r/{link.code}/").content.decode()
    assert "data-referral-join" not in page


@pytest.mark.parametrize("code", ["AAAAAAAAAAAA", "bad%20code", "x" * 40])
def test_a_bad_code_is_a_404_whatever_the_cache_holds(code):
    link = _link()
    browser().get(f"/r/{link.code}/")
    assert browser().get(f"/r/{code}/").status_code == 404
    assert Click.objects.count() == 1


def test_a_links_landing_counts_only_the_travellers_still_in_the_group():
    from django.utils import timezone

    from groups.models import Membership
    from referrals.selectors import landing_get

    trip = factories.trip(privacy="public")
    gone = factories.member(trip, "Gina Gone")
    factories.member(trip, "Hugo Here")
    Membership.objects.filter(group=trip.group, user=gone).update(status=Membership.Status.LEFT)
    link = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="copy")
    assert landing_get(code=link.code, today=timezone.localdate()).travellers == 2
