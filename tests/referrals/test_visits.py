"""The landing page's hot path: one visit is one click, a first visit without consent makes
no server-side session, a return writes nothing it does not need, and the card discloses
the incentive when it is on."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from referrals import rollups
from referrals.models import Click, DailyRollup, Visitor
from referrals.services import VISIT_COOKIE, VISIT_COOKIE_SALT, share_link_get_or_create
from referrals.share_targets import incentive_disclosure
from tests import factories
from tests.referrals.helpers import FACEBOOK_CRAWLER_UA, browser, open_graph

pytestmark = pytest.mark.django_db


def _link(channel: str = "facebook"):
    trip = factories.trip()
    return share_link_get_or_create(trip_id=trip.pk, sharer=trip.created_by, channel=channel)


def _writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


def _visit_cookie_from(minutes_ago: int, code: str) -> str:
    """The ``sbs_visit`` cookie the landing page would have set ``minutes_ago``."""
    signer = signing.get_cookie_signer(
        salt=signing._cookie_signer_salt(VISIT_COOKIE, VISIT_COOKIE_SALT)
    )
    signer.timestamp = lambda: signing.b62_encode(int(time.time()) - minutes_ago * 60)
    return signer.sign(code)


def test_a_first_visit_without_consent_makes_a_visitor_and_a_click_and_no_session():
    link = _link()
    client = browser()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/r/{link.code}/")
    writes = _writes(queries)
    assert len(writes) == 2
    assert "referrals_visitor" in writes[0] and "referrals_click" in writes[1]
    assert not any("django_session" in q["sql"] for q in queries)
    assert not Session.objects.exists() and "sessionid" not in client.cookies
    # The banner asks on this very page, though its cookie only comes with the response.
    assert "data-consent-banner" in response.content.decode()
    assert Click.objects.get().visitor == Visitor.objects.get()


def test_a_visitor_back_without_consent_is_found_by_its_cookie_and_writes_only_the_click():
    first, second = _link(), _link(channel="x")
    client = browser()
    client.get(f"/r/{first.code}/")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/r/{second.code}/")
    assert [sql for sql in _writes(queries) if "referrals_click" not in sql] == []
    assert len(_writes(queries)) == 1
    assert "sbs_svid" not in response.cookies  # known already: not set again
    assert Visitor.objects.count() == 1
    assert set(Click.objects.values_list("visitor", flat=True)) == {Visitor.objects.get().pk}
    assert "data-consent-banner" in response.content.decode()


def test_a_visitor_of_an_existing_session_is_not_written_back_to_it():
    """A session that already holds the key (a refusal put it there): reading it is all."""
    link = _link()
    client = browser()
    client.post("/r/consent/", {"decision": "refused", "next": "/"})
    client.get(f"/r/{link.code}/")
    client.post("/r/consent/", {"decision": "refused", "next": "/"})  # key into the session
    assert Session.objects.count() == 1
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/r/{_link(channel='x').code}/")
    assert not any("django_session" in sql for sql in _writes(queries))
    assert Visitor.objects.count() == 1 and Click.objects.count() == 2


def test_the_same_browser_back_on_the_same_link_within_the_visit_is_one_click_and_no_query():
    link = _link()
    client = browser()
    client.get(f"/r/{link.code}/")
    cookie = client.cookies[VISIT_COOKIE]
    assert not cookie["max-age"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/r/{link.code}/").status_code == 200
    assert len(queries) == 0
    assert Click.objects.count() == 1
    # Another link is another visit.
    client.get(f"/r/{_link(channel='x').code}/")
    assert Click.objects.count() == 2


def test_a_return_after_the_visit_window_is_a_new_click(settings):
    settings.REFERRALS = settings.REFERRALS | {"VISIT_MINUTES": 30}
    link = _link()
    client = browser()
    client.get(f"/r/{link.code}/")
    client.cookies[VISIT_COOKIE] = _visit_cookie_from(29, link.code)
    client.get(f"/r/{link.code}/")
    assert Click.objects.count() == 1
    client.cookies[VISIT_COOKIE] = _visit_cookie_from(31, link.code)
    client.get(f"/r/{link.code}/")
    assert Click.objects.count() == 2
    assert Visitor.objects.count() == 1


def test_the_visit_window_is_a_setting(settings):
    settings.REFERRALS = settings.REFERRALS | {"VISIT_MINUTES": 60}
    link = _link()
    client = browser()
    client.get(f"/r/{link.code}/")
    client.cookies[VISIT_COOKIE] = _visit_cookie_from(45, link.code)
    client.get(f"/r/{link.code}/")
    assert Click.objects.count() == 1


def test_a_forged_visit_cookie_is_ignored():
    link = _link()
    client = browser()
    client.cookies[VISIT_COOKIE] = f"{link.code}:1AbCdE:forged"
    client.get(f"/r/{link.code}/")
    assert Click.objects.count() == 1


def test_a_consented_visitor_back_on_the_same_link_within_the_visit_is_one_click():
    link = _link()
    client = browser()
    client.post("/r/consent/", {"decision": "granted", "next": "/"})
    client.get(f"/r/{link.code}/")
    client.get(f"/r/{link.code}/")
    assert Click.objects.count() == 1
    assert Click.objects.get().visitor.consent == "granted"


def test_crawler_previews_are_each_counted_and_never_take_the_visit_cookie():
    link = _link()
    crawler = Client(HTTP_USER_AGENT=FACEBOOK_CRAWLER_UA)
    crawler.get(f"/r/{link.code}/")
    crawler.get(f"/r/{link.code}/")
    assert Click.objects.filter(is_preview=True, visitor=None).count() == 2
    assert VISIT_COOKIE not in crawler.cookies and "sbs_svid" not in crawler.cookies


def test_a_flood_that_drops_its_cookies_is_still_limited_and_flagged(settings):
    settings.REFERRALS = settings.REFERRALS | {"CLICK_RATE": "3/m"}
    link = _link()
    for _ in range(6):
        browser("203.0.113.9").get(f"/r/{link.code}/")  # a new browser each time
    assert Click.objects.filter(flagged=False).count() == 3
    assert Click.objects.filter(flagged=True).count() == 1


def _rolled_up(link) -> tuple[int, int]:
    rollups.rollup(days=1)
    row = DailyRollup.objects.get(link=link)
    return row.visits, row.unique_visitors


def test_new_browsers_from_one_address_are_one_visitor_per_link_and_day():
    # Under the flood limit (30 a minute on a link), a script that drops its cookies made
    # a new visitor with each request: 54 "visitors" in two minutes from one address.
    link, other_link = _link(), _link()
    for _ in range(25):
        browser("203.0.113.9").get(f"/r/{link.code}/")
    someone_else = browser("198.51.100.77")
    someone_else.get(f"/r/{link.code}/")
    del someone_else.cookies["sbs_visit"]  # back after the visit window, with their key
    someone_else.get(f"/r/{link.code}/")
    browser("203.0.113.9").get(f"/r/{other_link.code}/")

    assert _rolled_up(link) == (1 + 2, 1 + 1)  # the script once; the other person twice
    assert _rolled_up(other_link) == (1, 1)


def test_each_new_browser_still_gets_its_own_visitor_and_click():
    # Counting them once takes nothing from them: each browser has its own visitor (nothing
    # links two people behind one address) and its click, for attribution.
    link = _link()
    first, second = browser("203.0.113.9"), browser("203.0.113.9")
    first.get(f"/r/{link.code}/")
    second.get(f"/r/{link.code}/")

    assert second.cookies["sbs_svid"].value != first.cookies["sbs_svid"].value
    assert Click.objects.filter(new_visitor=True).count() == 2
    assert Visitor.objects.count() == 2


def test_clicks_from_one_address_are_limited_across_all_links(settings):
    settings.REFERRALS = settings.REFERRALS | {"CLICK_RATE": "100/m", "CLICK_SOURCE_RATE": "4/m"}
    links = [_link() for _ in range(6)]
    for link in links:
        browser("203.0.113.9").get(f"/r/{link.code}/")

    assert Click.objects.filter(flagged=False).count() == 4
    assert list(Click.objects.filter(flagged=True).values_list("link", flat=True)) == [links[4].pk]


def test_clicks_from_one_address_are_limited_per_day(settings):
    settings.REFERRALS = settings.REFERRALS | {
        "CLICK_RATE": "100/m",
        "CLICK_SOURCE_RATE": "100/m",
        "CLICK_SOURCE_DAY_RATE": "3/d",
    }
    links = [_link() for _ in range(5)]
    for link in links:
        browser("203.0.113.9").get(f"/r/{link.code}/")
    browser("198.51.100.77").get(f"/r/{links[4].code}/")  # another address: counted

    assert Click.objects.filter(flagged=False).count() == 4
    assert Click.objects.filter(flagged=True).count() == 1


# --- The disclosure on the card and the page --------------------------------------------------


@pytest.mark.parametrize("language", ["en", "fr"])
def test_with_incentives_on_the_card_and_the_page_end_with_the_disclosure(settings, language):
    from django.utils import translation

    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": True}
    link = _link()
    client = browser(language=language)
    page = client.get(f"/r/{link.code}/").content.decode()
    with translation.override(language):
        disclosure = incentive_disclosure()
    tags = open_graph(page)
    assert tags["og:description"].endswith(disclosure)
    assert tags["twitter:description"].endswith(disclosure)
    assert "data-referral-disclosure" in page
    if language == "fr":
        assert "récompense" in tags["og:description"]


def test_with_incentives_off_nothing_is_disclosed(settings):
    settings.REFERRALS = settings.REFERRALS | {"INCENTIVE": False}
    link = _link()
    page = browser().get(f"/r/{link.code}/").content.decode()
    with_disclosure = incentive_disclosure()
    assert with_disclosure not in page and "data-referral-disclosure" not in page


@pytest.mark.parametrize("secure", [True, False])
def test_the_landing_cookies_are_first_party_and_secure_like_the_session_cookie(settings, secure):
    settings.SESSION_COOKIE_SECURE = secure
    response = browser().get(f"/r/{_link().code}/")
    for name in ("sbs_svid", VISIT_COOKIE):
        cookie = response.cookies[name]
        assert bool(cookie["secure"]) is secure
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        assert not cookie["max-age"] and not cookie["expires"]  # the browser session only
