"""The landing page stays cheap (referrals/landing_page.py): its link's parts and the site's
frame are cached, and what differs per request (the CSRF token, the page's own path) is
put in each time. These tests hold the cached page to the fully rendered one, and check
what must never be shared between visitors or outlive a change."""

import datetime as dt
import re
import threading
import time

import pytest
from django.contrib.messages import constants as message_levels
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.cache import cache
from django.core.cache.backends import locmem
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from booking.models import Trip
from referrals import landing_page
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


def _full_render(monkeypatch):
    """From here on the page is rendered in full, as for someone logged in."""
    monkeypatch.setattr(landing_page, "_frame_get", lambda *args, **kwargs: None)


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("kind", ["new", "back", "crawler"])
def test_the_cached_page_is_the_fully_rendered_page(monkeypatch, language, kind):
    link = _link(privacy="public")
    # A query string with characters to escape: the forms' ``next`` and the login link.
    path = f"/r/{link.code}/?utm_source=fb&x=%3Cb%3E%22'"

    def visit():
        if kind == "crawler":
            client = Client(HTTP_USER_AGENT=FACEBOOK_CRAWLER_UA, HTTP_ACCEPT_LANGUAGE=language)
        else:
            client = browser(f"198.51.100.{len(language)}", language=language)
            if kind == "back":
                client.get(f"/r/{_link(channel='x').code}/")  # known: sbs_svid
        return client.get(path).content.decode()

    visit()  # the parts and the frame are cached now
    cached = visit()
    _full_render(monkeypatch)
    rendered = visit()
    assert _without_tokens(cached) == _without_tokens(rendered)
    assert "&amp;x=%3Cb%3E%22&#x27;" in cached  # escaped as the template escapes it
    assert "<b>" not in cached
    assert f'lang="{language}"' in cached


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


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_a_request_thread_borrows_the_kept_connection_and_opens_none():
    """Under ASGI each request runs on a new thread: with SQLite the landing lends it the
    process's kept connection instead of a new one (its schema already read)."""
    if connection.vendor != "sqlite":
        pytest.skip("the kept connection is for SQLite only; PostgreSQL has the pool")
    link = _link()
    seen = {}

    def request_thread():
        response = browser().get(f"/r/{link.code}/")
        seen["status"] = response.status_code
        seen["own_connection"] = connections["default"].connection
        connections.close_all()

    for _ in range(2):
        thread = threading.Thread(target=request_thread)
        thread.start()
        thread.join()
        assert seen["status"] == 200
        assert seen["own_connection"] is None  # the thread never opened one
    kept = landing_page._kept["default"]
    assert kept.connection is not None and not kept.in_atomic_block
    assert Click.objects.count() == 2  # committed, seen from this thread's connection


def test_a_links_first_visit_reads_its_landing_in_one_statement_as_the_orm_would():
    """``landing_get`` on a cache miss (one plain statement) gives what the ORM path
    (``landing_for``: the link's trip and its travellers' count) gives, for public and
    private groups, a trip being planned or booked, to an event or a station, in the
    past (no date suggested) or ahead, with travellers who left."""
    from django.core.cache import cache
    from django.utils import timezone

    from groups.models import Membership
    from referrals.selectors import landing_for, landing_get

    trips = [
        factories.trip(privacy="public"),
        factories.trip(privacy="private", days_ahead=30),
        factories.trip(privacy="public"),
    ]
    past = timezone.localdate() - dt.timedelta(days=3)
    Trip.objects.filter(pk=trips[2].pk).update(outbound_from=past, outbound_to=past)
    event_trip = factories.trip(privacy="public")
    event_trip.event = factories.event()
    event_trip.save(update_fields=["event"])
    trips.append(event_trip)
    booked = factories.trip(privacy="public")
    Trip.objects.filter(pk=booked.pk).update(status=Trip.Status.BOOKED)
    trips.append(booked)
    gone = factories.member(trips[0], "Gina Gone")
    factories.member(trips[0], "Hugo Here")
    Membership.objects.filter(group=trips[0].group, user=gone).update(status=Membership.Status.LEFT)

    today = timezone.localdate()
    for trip in trips:
        link = share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel="x")
        cache.clear()
        with CaptureQueriesContext(connection) as context:
            read = landing_get(code=link.code, today=today)
        assert len(context.captured_queries) == 1
        expected = landing_for(
            link=type(link)
            .objects.select_related(
                "trip__origin", "trip__destination", "trip__event", "trip__group"
            )
            .get(pk=link.pk),
            today=today,
        )
        assert (read.link.pk, read.link.code, read.link.channel) == (
            link.pk,
            link.code,
            link.channel,
        )
        assert {**vars(read), "link": None} == {**vars(expected), "link": None}
    # The statement's count is the active travellers only.
    assert (
        landing_get(
            code=share_link_get_or_create(
                trip_id=trips[0].pk, sharer=trips[0].created_by, channel="copy"
            ).code,
            today=today,
        ).travellers
        == 2
    )
