import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone

from core import jobs
from referrals import tracking
from referrals.models import Click, Consent, DailyRollup, Visitor
from referrals.rollups import rollup
from referrals.services import share_link_get_or_create
from tests import factories
from tests.referrals.helpers import BROWSER_UA, FACEBOOK_CRAWLER_UA, browser

pytestmark = pytest.mark.django_db

PREVIEW_FETCHERS = {
    "facebookexternalhit": FACEBOOK_CRAWLER_UA,
    "Twitterbot": "Twitterbot/1.0",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
    "Slackbot": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "LinkedInBot": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
}


def _link(channel="facebook"):
    trip = factories.trip()
    return share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel=channel)


@pytest.mark.parametrize("name", sorted(PREVIEW_FETCHERS))
def test_each_link_preview_fetcher_is_a_crawler_for_the_library_itself(name):
    from crawlerdetect import CrawlerDetect

    assert CrawlerDetect().is_crawler(PREVIEW_FETCHERS[name])


@pytest.mark.parametrize("name", sorted(PREVIEW_FETCHERS))
def test_each_link_preview_fetcher_counts_as_a_preview_not_a_visitor(name):
    link = _link()
    client = Client(HTTP_USER_AGENT=PREVIEW_FETCHERS[name], REMOTE_ADDR="192.0.2.1")
    assert client.get(f"/r/{link.code}/").status_code == 200
    click = Click.objects.get()
    assert click.is_preview
    assert click.visitor is None
    assert not Visitor.objects.exists()
    assert "sessionid" not in client.cookies
    assert "sbs_vid" not in client.cookies


@pytest.mark.parametrize(
    "agent",
    [
        BROWSER_UA,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/460.0.0.0;FBBV/1]",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    ],
)
def test_browsers_are_not_crawlers(agent):
    assert tracking.crawler_name(agent) is None


def test_no_user_agent_is_no_visitor():
    assert tracking.crawler_name("") is not None


def test_a_browser_visit_is_a_click_with_a_visitor():
    link = _link(channel="whatsapp")
    browser().get(f"/r/{link.code}/")
    click = Click.objects.get()
    assert not click.is_preview and not click.flagged
    assert click.visitor is not None
    assert click.channel == "whatsapp"
    assert click.user_agent_family == "chrome"


def test_an_in_app_browser_is_named():
    agent = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 [FBAN/FBIOS;FBAV/460.0]"
    assert tracking.user_agent_family(agent) == "facebook-app"


def test_a_counted_click_is_one_insert_for_a_known_visitor():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    link = _link()
    other = _link(channel="x")  # the same link again within the visit would count nothing
    client = browser()
    client.get(f"/r/{link.code}/")
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/r/{other.code}/")
    inserts = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1
    assert "referrals_click" in inserts[0]


# --- Consent ------------------------------------------------------------------------------


def _vid_from(client) -> str:
    """The visitor key in the browser's cookie, read the way the server reads it."""
    request = HttpRequest()
    request.COOKIES["sbs_vid"] = client.cookies["sbs_vid"].value
    return request.get_signed_cookie("sbs_vid", salt="sidebyside.referrals.vid")


def test_banner_shows_until_a_decision_is_remembered():
    link = _link()
    client = browser()
    assert "data-consent-banner" in client.get(f"/r/{link.code}/").content.decode()
    client.post("/r/consent/", {"decision": "refused", "next": f"/r/{link.code}/"})
    assert "data-consent-banner" not in client.get(f"/r/{link.code}/").content.decode()
    assert "data-consent-banner" not in client.get("/").content.decode()


@pytest.mark.parametrize("secure", [True, False])
def test_consent_cookies_are_secure_like_the_session_cookie(settings, secure):
    # SESSION_COOKIE_SECURE is on unless DEBUG (or DJANGO_SECURE_COOKIES=0 for local http).
    settings.SESSION_COOKIE_SECURE = secure
    response = browser().post("/r/consent/", {"decision": "granted", "next": "/"})
    for name in ("sbs_consent", "sbs_vid"):
        assert bool(response.cookies[name]["secure"]) is secure
        assert response.cookies[name]["httponly"]


def test_consent_accepted_sets_a_first_party_visitor_cookie_that_attributes_later_visits():
    link = _link()
    client = browser()
    client.get(f"/r/{link.code}/")
    response = client.post("/r/consent/", {"decision": "granted", "next": f"/r/{link.code}/"})
    assert response.status_code == 302
    assert response["Location"] == f"/r/{link.code}/"
    consent = response.cookies["sbs_consent"]
    assert consent.value == "granted"
    assert consent["samesite"] == "Lax"
    assert consent["max-age"] == 395 * 24 * 3600
    assert response.cookies["sbs_vid"]["samesite"] == "Lax"
    key = _vid_from(client)
    visitor = Visitor.objects.get(key=key)
    assert visitor.consent == Consent.GRANTED
    # The session-only visitor of the first visit is the one kept.
    assert Click.objects.get().visitor == visitor

    # Days later, a new session (the browser was closed): the cookie still says who it is.
    later = browser()
    later.cookies["sbs_consent"] = client.cookies["sbs_consent"].value
    later.cookies["sbs_vid"] = client.cookies["sbs_vid"].value
    later.get(f"/r/{link.code}/")
    assert Click.objects.filter(visitor=visitor).count() == 2
    assert Visitor.objects.count() == 1


def test_consent_refused_sets_no_visitor_cookie_and_keeps_the_id_for_the_session_only():
    link = _link()
    client = browser()
    response = client.post("/r/consent/", {"decision": "refused", "next": "/"})
    assert response.cookies["sbs_consent"].value == "refused"
    assert "sbs_vid" not in client.cookies or not client.cookies["sbs_vid"].value
    client.get(f"/r/{link.code}/")
    client.get(f"/r/{_link(channel='x').code}/")  # another link: a new click, same visitor
    assert "sbs_vid" not in client.cookies or not client.cookies["sbs_vid"].value
    first = Click.objects.first().visitor
    assert Click.objects.filter(visitor=first).count() == 2  # same session, same visitor
    # The key is in a signed cookie without expiry: the browser drops it when its session
    # ends. No server-side session is made for it.
    session_cookie = client.cookies["sbs_svid"]
    assert not session_cookie["max-age"] and not session_cookie["expires"]
    request = HttpRequest()
    request.COOKIES["sbs_svid"] = session_cookie.value
    assert request.get_signed_cookie("sbs_svid", salt="sidebyside.referrals.svid") == first.key
    assert not Session.objects.exists()

    # A new session is a new visitor: nothing links it to the first.
    later = browser()
    later.cookies["sbs_consent"] = "refused"
    later.get(f"/r/{link.code}/")
    assert Visitor.objects.count() == 2
    assert Click.objects.exclude(visitor=first).get().visitor.consent == Consent.REFUSED


def test_refusing_after_accepting_removes_the_cookie():
    client = browser()
    client.post("/r/consent/", {"decision": "granted", "next": "/"})
    key = _vid_from(client)
    response = client.post("/r/consent/", {"decision": "refused", "next": "/"})
    assert response.cookies["sbs_vid"].value == ""
    assert Visitor.objects.get(key=key).consent == Consent.REFUSED


def test_consent_needs_a_csrf_token_and_a_known_decision():
    client = Client(enforce_csrf_checks=True)
    assert client.post("/r/consent/", {"decision": "granted"}).status_code == 403
    assert browser().post("/r/consent/", {"decision": "maybe"}).status_code == 400
    assert browser().get("/r/consent/").status_code == 405
    assert not Visitor.objects.exists()


def test_consent_never_redirects_off_site():
    response = browser().post(
        "/r/consent/", {"decision": "refused", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


# --- Addresses ----------------------------------------------------------------------------


def test_no_raw_ip_address_is_stored():
    address = "203.0.113.77"
    link = _link()
    browser(address).get(f"/r/{link.code}/")
    Client(HTTP_USER_AGENT=FACEBOOK_CRAWLER_UA, REMOTE_ADDR=address).get(f"/r/{link.code}/")
    assert Click.objects.count() == 2
    for row in Click.objects.values():
        assert all(address not in str(value) for value in row.values())
    for row in Visitor.objects.values():
        assert all(address not in str(value) for value in row.values())
    for session in Session.objects.all():
        assert address not in str(session.get_decoded())


def test_the_address_hash_changes_every_day_and_is_keyed():
    today = timezone.localdate()
    same_day = tracking.ip_hash("203.0.113.77", on=today)
    assert same_day == tracking.ip_hash("203.0.113.77", on=today)
    assert same_day != tracking.ip_hash("203.0.113.77", on=today + dt.timedelta(days=1))
    assert same_day != tracking.ip_hash("203.0.113.78", on=today)
    import hashlib

    assert same_day != hashlib.sha256(b"203.0.113.77").hexdigest()


# --- Floods and rollups -------------------------------------------------------------------


def test_a_flood_from_one_source_is_flagged_once_and_counted_once(settings):
    settings.REFERRALS = {**settings.REFERRALS, "CLICK_RATE": "3/h"}
    link = _link()
    for _ in range(8):  # a script: no cookies, so a new "visitor" every time
        assert browser("203.0.113.9").get(f"/r/{link.code}/").status_code == 200
    browser("198.51.100.30").get(f"/r/{link.code}/")  # someone else, elsewhere
    assert Click.objects.filter(flagged=True).count() == 1
    assert Click.objects.filter(flagged=False).count() == 4  # 3 under the limit + the other
    rollup()
    row = DailyRollup.objects.get(link=link)
    assert (row.visits, row.unique_visitors, row.flagged) == (2, 2, 1)


def test_rollup_counts_previews_apart_and_is_idempotent():
    link = _link()
    other = _link(channel="x")
    visitor = browser()
    visitor.get(f"/r/{link.code}/")
    del visitor.cookies["sbs_visit"]  # back after the visit window: a second visit
    visitor.get(f"/r/{link.code}/")
    browser("198.51.100.40").get(f"/r/{link.code}/")
    Client(HTTP_USER_AGENT=FACEBOOK_CRAWLER_UA).get(f"/r/{link.code}/")
    Client(HTTP_USER_AGENT="Twitterbot/1.0").get(f"/r/{other.code}/")
    assert rollup() == 2
    fields = ("link_id", "day", "channel", "previews", "visits", "unique_visitors", "flagged")
    first = sorted(DailyRollup.objects.values_list(*fields))
    assert rollup() == 2
    assert sorted(DailyRollup.objects.values_list(*fields)) == first
    today = timezone.localdate()
    assert first == sorted(
        [
            (link.pk, today, "facebook", 1, 3, 2, 0),
            (other.pk, today, "x", 1, 0, 0, 0),
        ]
    )


def test_rollup_puts_clicks_on_their_local_day():
    link = _link()
    today = timezone.localdate()
    yesterday_evening = timezone.make_aware(
        dt.datetime.combine(today - dt.timedelta(days=1), dt.time(23, 30))
    )
    Click.objects.create(link=link, channel=link.channel, at=yesterday_evening, ip_hash="a" * 64)
    Click.objects.create(link=link, channel=link.channel, at=timezone.now(), ip_hash="b" * 64)
    rollup()
    assert sorted(DailyRollup.objects.values_list("day", "visits")) == [
        (today - dt.timedelta(days=1), 1),
        (today, 1),
    ]


def test_rollup_is_a_registered_worker_job():
    names = [job.name for job in jobs.registered()]
    assert "referrals_rollup" in names


def test_only_a_browser_that_came_through_a_shared_link_is_asked_for_consent():
    link = _link()
    visitor = browser()
    # Someone who found the site by themselves is never asked: nothing of theirs is kept.
    assert "data-consent-banner" not in visitor.get("/").content.decode()
    visitor.get(f"/r/{link.code}/")
    # Once they came through a friend's link, the question follows them until answered.
    assert "data-consent-banner" in visitor.get("/").content.decode()
