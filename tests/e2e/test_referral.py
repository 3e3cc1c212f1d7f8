"""Issue 6, done when: in Chromium, a traveller of a confirmed booking shares the trip to
Facebook. The Share Dialog is the fake Facebook's (sandboxes/facebook_server.py): it
checks the app id, fetches the tracked link as Facebook's crawler does and draws the card
from its Open Graph tags, and sends the person back without saying whether they posted.
The dialog's URL and the landing page's tags are checked here with an Open Graph parser
from PyPI that knows nothing of our templates (extruct). The crawler's fetch is a preview,
not a visitor. A friend in another browser opens the link, accepts the consent banner,
signs up with an e-mail code, plans a trip and pays for it; the rollup job runs; the staff
dashboard shows 1 share, 1 visitor (the preview counted apart), 1 booking and its revenue,
and its CSV export agrees.

Parts that are not the point (the sharer's booking, the newcomer's trip and its seats, the
friend who pays their own share) are made with the factories and services, against the
Stripe sandbox. Screenshots at 360x740 land in tests/e2e/screenshots/."""

import csv
import datetime as dt
import io
import re
import zoneinfo
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.utils import timezone, translation
from PIL import Image

from booking import plan
from booking.models import Booking, Station, Ticket, Trip
from core import jobs
from core.l10n import format_moment, format_money
from groups.models import Profile
from payments import services as payments
from payments.models import Checkout, Share
from referrals.models import Click, Consent, Conversion, ShareIntent, ShareLink, Visitor
from referrals.rollups import rollup_job
from sandboxes.facebook_server import CRAWLER_USER_AGENT, FakeFacebook
from sandboxes.stripe_server import CARD_OK
from tests import factories
from tests.e2e.conftest import PHONE, TIME_ZONE
from tests.payments.conftest import (  # noqa: F401
    stripe_sandbox,
    stripe_sandbox_process,
    tasks_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
FB_APP_ID = "http://ogp.me/ns/fb#app_id"


@pytest.fixture
def fake_facebook(settings):
    fake = FakeFacebook().start()
    settings.FACEBOOK_APP_ID = fake.app.id
    settings.FACEBOOK_APP_SECRET = fake.app.secret
    settings.FACEBOOK_GRAPH_URL = fake.url
    settings.FACEBOOK_DIALOG_URL = fake.url
    settings.FACEBOOK_SANDBOX = True
    yield fake
    fake.stop()
    assert fake.errors == [], "the fake Facebook itself failed"


def _context(browser, base, user=None):
    """A phone in English (the pages' words are asserted), logged in as ``user``."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
        timezone_id=TIME_ZONE,
        # Headless Chromium says "HeadlessChrome", which the click tracking rightly takes
        # for a bot (a preview, never a visitor): be the phone's Chrome that people use.
        user_agent=(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{browser.version} Mobile Safari/537.36"
        ),
    )
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def open_graph(html: str, url: str) -> dict[str, str | list[str]]:
    """The page's Open Graph properties as extruct reads them: ``og:*`` from its Open Graph
    extractor, ``fb:app_id`` from its RDFa one (the RDFa initial context knows the ``fb``
    prefix; extruct's Open Graph extractor wants it declared in a ``prefix`` attribute).
    A property given more than once comes as the list of its values (so a test expecting
    one value fails)."""
    import extruct

    found = extruct.extract(html, base_url=url, syntaxes=["opengraph", "rdfa"])
    assert len(found["opengraph"]) == 1, found["opengraph"]
    values: dict[str, list[str]] = {}
    for name, value in found["opengraph"][0]["properties"]:
        values.setdefault(name, []).append(value)
    for item in found["rdfa"]:
        for value in item.get(FB_APP_ID, []):
            values.setdefault("fb:app_id", []).append(value["@value"])
    return {name: got[0] if len(got) == 1 else got for name, got in values.items()}


def _booked_trip(sandbox):
    """Olivia and Ana's trip, booked and paid (Olivia covers both shares)."""
    trip, (olivia, ana), _departure = factories.checkout_ready_trip(travellers=2)
    Profile.objects.filter(user=ana).update(display_name="Ana Sharewell")
    # Organisers put names in titles: the shared card never shows the title.
    Trip.objects.filter(pk=trip.pk).update(title="Olivia's secret birthday")
    checkout = payments.checkout_start(trip_id=trip.pk, by=olivia)
    payments.payment_start(
        checkout_id=checkout.pk,
        payer=olivia,
        share_ids=list(Share.objects.filter(checkout=checkout).values_list("pk", flat=True)),
        payment_method=sandbox.card_payment_method(),
    )
    tasks_run()  # the worker confirms off the request
    trip.refresh_from_db()
    assert trip.status == "booked"
    ana.refresh_from_db()
    return trip, olivia, ana


def _seat_and_checkout(trip, people):
    """The newcomer's trip gets a train, seats together and an open checkout."""
    factories.passenger_types()
    factories.discount_cards()
    organiser = people[0]
    origin, destination = Station.objects.get(code="FRPLY"), Station.objects.get(code="FRLPD")
    train = factories.vehicle()
    departures = [
        factories.departure(
            origin=origin,
            destination=destination,
            vehicle_obj=train,
            departs_at=timezone.make_aware(dt.datetime.combine(trip.outbound_from, dt.time(h, 7))),
        )
        for h in (9, 11)
    ]
    plan.poll_propose(
        trip_id=trip.pk, by=organiser, leg="outbound", departure_ids=[d.pk for d in departures]
    )
    plan.poll_settle(trip_id=trip.pk, by=organiser, leg="outbound", departure_id=departures[0].pk)
    plan.sit_together(trip_id=trip.pk, user=organiser, leg="outbound")
    return payments.checkout_start(trip_id=trip.pk, by=organiser)


def _code_in(message) -> str:
    match = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", message.body, re.MULTILINE)
    assert match, message.body
    return match.group(1)


def _pay(page, number):
    from playwright.sync_api import expect

    card = page.locator("[data-pay-card]")
    card.locator('input[placeholder="number"]').fill(number)
    card.locator('input[placeholder="exp_month"]').fill("12")
    card.locator('input[placeholder="exp_year"]').fill("39")
    card.locator('input[placeholder="cvc"]').fill("123")
    card.locator('input[placeholder="postal_code"]').fill("75001")
    page.locator("[data-pay-submit]").click()
    result = page.locator("[data-pay-result]")
    expect(result).to_have_attribute("data-kind", re.compile("success|error"))
    return result


def test_a_facebook_share_brings_a_friend_who_signs_up_and_books_and_the_dashboard_counts_it(
    live_server,
    browser,
    screenshots,
    fake_facebook,
    stripe_sandbox,  # noqa: F811
):
    from playwright.sync_api import expect

    base = live_server.url
    fake = fake_facebook
    trip, olivia, ana = _booked_trip(stripe_sandbox)
    trip_url = f"{base}/trips/{trip.pk}/"
    contexts = []
    try:
        # --- Ana, a traveller of the booked trip, presses "Facebook" in the share panel.
        context, sharer = _context(browser, base, ana)
        contexts.append(context)
        sharer.goto(f"{trip_url}#share")
        panel = sharer.locator("[data-share-panel]")
        expect(panel).to_be_visible()
        expect(panel.locator("[data-share-card]")).not_to_contain_text("Olivia")
        panel.locator('button[data-share-channel="facebook"]').click()
        sharer.wait_for_url(re.compile(re.escape(f"{fake.url}/dialog/share?")))

        # The dialog's URL: our app, the traveller's tracked link, back to the trip.
        link = ShareLink.objects.get()
        assert (link.trip_id, link.sharer, link.channel) == (trip.pk, ana, "facebook")
        assert ShareIntent.objects.filter(link=link).count() == 1
        href = f"{base}/r/{link.code}/"
        dialog = urlsplit(sharer.url)
        assert f"{dialog.scheme}://{dialog.netloc}{dialog.path}" == f"{fake.url}/dialog/share"
        assert parse_qs(dialog.query) == {
            "app_id": [fake.app.id],
            "href": [href],
            "redirect_uri": [trip_url],
        }

        # The crawler fetched the link once, as a preview: a click with no visitor.
        assert [(s.url, s.status, s.error) for s in fake.scrapes] == [(href, 200, "")]
        preview = Click.objects.get(link=link)
        assert (preview.is_preview, preview.visitor_id) == (True, None)
        assert preview.user_agent_family == "facebookexternalhit"
        assert CRAWLER_USER_AGENT.startswith("facebookexternalhit/1.1")
        assert not Visitor.objects.exists()

        # What the crawler read, through an independent parser.
        crawled = fake.scrapes[0]
        tags = open_graph(crawled.body, href)
        assert tags["og:url"] == href  # the tracked link itself: visits land on it
        assert tags["og:type"] == "website"
        assert tags["og:image"] == f"{href}image.png"
        assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630")
        assert tags["fb:app_id"] == fake.app.id
        # The crawler sends no language: the site's default (French) is what it reads.
        # The booked train's day and time, on its station's clock (issue 18 point 9).
        departure = trip.legs.get(direction="outbound").departure
        with translation.override(settings.LANGUAGE_CODE):
            day = format_moment(
                departure.departs_at.astimezone(zoneinfo.ZoneInfo(departure.origin.time_zone)),
                year=True,
            )
        assert "Lyon" in tags["og:title"] and day in tags["og:title"]
        assert "Paris → Lyon" in tags["og:description"] and "2" in tags["og:description"]
        names = [person.profile.display_name for person in (olivia, ana)]
        for private in [*names, *(name.split()[0] for name in names), trip.title]:
            assert private not in crawled.body, private
        # The fake's own reader (the card it draws) agrees with extruct's.
        for name in ("og:url", "og:title", "og:description", "og:image"):
            assert crawled.tags[name] == tags[name], name

        # The card shown to Ana is the one those tags make, with the picture we drew.
        card = sharer.locator("[data-share-card]")
        expect(card).to_have_attribute("data-card-url", href)
        expect(card.locator("[data-card-title]")).to_have_text(tags["og:title"])
        expect(card.locator("[data-card-description]")).to_have_text(tags["og:description"])
        image = card.locator("[data-card-image]")
        expect(image).to_have_attribute("data-card-image", tags["og:image"])
        # Facebook's copy of the picture, fetched by its crawler: the PNG we drew.
        picture = context.request.get(f"{fake.url}{image.get_attribute('src')}")
        assert picture.status == 200 and picture.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(picture.body())).size == (1200, 630)
        assert image.evaluate("img => img.complete && img.naturalWidth") == 1200
        sharer.screenshot(path=str(screenshots / "referral-facebook-dialog-360.png"))

        # "Post": back on the trip page, with nothing that says a post was made.
        sharer.fill("#message", "Who's coming next time?")
        sharer.locator("[data-share-post]").click()
        sharer.wait_for_url(trip_url)
        assert sharer.url == trip_url
        assert [(p.href, p.app_id, p.message) for p in fake.posts] == [
            (href, fake.app.id, "Who's coming next time?")
        ]
        assert len(fake.scrapes) == 1  # Facebook keeps its scrape of the link
        assert ShareIntent.objects.count() == 1 and Click.objects.count() == 1

        # --- A friend sees the post and opens the link in their own browser.
        context, friend = _context(browser, base)
        contexts.append(context)
        answer = friend.goto(fake.posts[0].href)
        assert answer.status == 200
        expect(friend.locator("[data-consent-banner]")).to_be_visible()
        assert friend.evaluate(NO_HORIZONTAL_SCROLL)
        # The tags the browser sees: the same link and picture, and the Twitter card.
        seen = open_graph(friend.content(), href)
        assert (seen["og:url"], seen["og:image"]) == (href, f"{href}image.png")
        twitter = {
            name: friend.locator(f'meta[name="twitter:{name}"]').get_attribute("content")
            for name in ("card", "image")
        }
        assert twitter == {"card": "summary_large_image", "image": f"{href}image.png"}
        friend.screenshot(path=str(screenshots / "referral-landing-360.png"))
        friend.screenshot(path=str(screenshots / "referral-landing-full-360.png"), full_page=True)

        friend.locator('[data-consent-banner] button[value="granted"]').click()
        friend.wait_for_url(href)
        expect(friend.locator("[data-consent-banner]")).to_have_count(0)
        visitor = Visitor.objects.get()
        assert visitor.consent == Consent.GRANTED
        cookies = {c["name"]: c for c in context.cookies(base)}
        assert cookies["sbs_consent"]["value"] == "granted" and "sbs_vid" in cookies
        assert Click.objects.filter(is_preview=True).count() == 1
        assert set(Click.objects.filter(is_preview=False).values_list("visitor", flat=True)) == {
            visitor.pk
        }

        # Signs up with an e-mail code, from the header's "Log in".
        friend.locator('a[href^="/accounts/login/"]').first.click()
        friend.locator('a[href^="/accounts/signup/"]').click()
        friend.fill('input[name="name"]', "Nina Newcomer")
        friend.fill('input[name="email"]', "nina@example.test")
        friend.locator('form[action^="/accounts/signup/"] button[type=submit]').click()
        friend.locator('input[name="code"]').wait_for()
        friend.fill('input[name="code"]', _code_in(mail.outbox[-1]))
        friend.locator('input[name="code"]').press("Enter")
        friend.wait_for_url(lambda url: "/accounts/" not in url)
        nina = Conversion.objects.get(kind="signup").user
        assert (nina.email, Conversion.objects.get(kind="signup").link) == (
            "nina@example.test",
            link,
        )

        # Plans her own trip with a friend of hers who came on their own (services: not
        # the point), then pays her share on her pay page in the same browser.
        nina_trip = factories.trip(organiser=nina, days_ahead=5)
        zoe = factories.member(nina_trip, "Zoé Ontheirown")
        checkout = _seat_and_checkout(nina_trip, [nina, zoe])
        token = payments.pay_link_token(checkout=checkout, payer=nina)
        friend.goto(f"{base}/pay/{token}/")
        expect(_pay(friend, CARD_OK)).to_have_attribute("data-kind", "success")
        zoe_share = Share.objects.get(checkout=checkout, traveller=zoe)
        payments.payment_start(
            checkout_id=checkout.pk,
            payer=zoe,
            share_ids=[zoe_share.pk],
            payment_method=stripe_sandbox.card_payment_method(),
        )
        tasks_run()  # the worker confirms off the request
        assert Checkout.objects.get(pk=checkout.pk).state == "confirmed"
        booking = Booking.objects.get(trip=nina_trip)
        nina_cents = sum(
            Ticket.objects.filter(booking=booking, traveller=nina).values_list(
                "price_cents", flat=True
            )
        )
        zoe_cents = sum(
            Ticket.objects.filter(booking=booking, traveller=zoe).values_list(
                "price_cents", flat=True
            )
        )
        assert nina_cents > 0 and zoe_cents > 0
        booked = Conversion.objects.get(kind="booking")
        # Only Nina came through the share: only her ticket is the share's revenue.
        assert (booked.link, booked.user, booked.amount_cents) == (link, nina, nina_cents)
        assert Conversion.objects.filter(kind="trip_created", link=link).count() == 1
        # Ana's own trip brought nothing: its travellers are the sharer's own group.
        assert not Conversion.objects.filter(trip=trip).exists()

        # --- The worker's rollup job runs.
        job = next(job for job in jobs.registered() if job.name == "referrals_rollup")
        assert job.func is rollup_job
        assert job.func() >= 1

        # --- Staff with the permission read the dashboard.
        stella = factories.user("Stella Staff")
        stella.is_staff = True
        stella.save(update_fields=["is_staff"])
        stella.user_permissions.add(
            Permission.objects.get(codename="view_dashboard", content_type__app_label="referrals")
        )
        context, staff = _context(browser, base, stella)
        contexts.append(context)
        answer = staff.goto(f"{base}/staff/referrals/")
        assert answer.status == 200

        def metric(name: str) -> str:
            return staff.locator(f'[data-metric="{name}"]').inner_text().strip()

        shown = {
            name: metric(name)
            for name in (
                "shares",
                "share_intents",
                "previews",
                "visitors",
                "visitors_per_share",
                "signups",
                "trips_created",
                "bookings",
                "revenue_cents",
            )
        }
        assert shown == {
            "shares": "1",
            "share_intents": "1",
            "previews": "1",  # the crawler, counted apart
            "visitors": "1",
            "visitors_per_share": "1.0",
            "signups": "1",
            "trips_created": "1",
            "bookings": "1",
            # In euros on the page, never raw cents (issue 18 point 11).
            "revenue_cents": format_money(nina_cents, "EUR", language="en"),
        }
        # Top sharers: Ana, by her first name only.
        top = staff.locator('[aria-labelledby="sharers-title"] tbody tr')
        expect(top).to_have_count(1)
        expect(top.locator("td").first).to_have_text(ana.profile.display_name.split()[0])
        assert staff.evaluate(NO_HORIZONTAL_SCROLL)  # wide tables scroll in their own box
        staff.screenshot(path=str(screenshots / "referral-dashboard-360.png"))
        staff.screenshot(path=str(screenshots / "referral-dashboard-full-360.png"), full_page=True)

        # The CSV export (what the page's link downloads) agrees with the page.
        export = staff.locator('a[href^="/staff/referrals/export.csv"]')
        with staff.expect_download() as download_info:
            export.click()
        download = download_info.value
        assert re.fullmatch(
            r"referrals-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.suggested_filename
        )
        with open(download.path(), newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and {row["channel"] for row in rows} == {"facebook"}

        def total(column: str) -> int:
            return sum(int(row[column]) for row in rows)

        assert {
            column: str(total(column))
            for column in (
                "shares",
                "share_intents",
                "previews",
                "visitors",
                "signups",
                "trips_created",
                "bookings",
                "revenue_cents",
            )
        } == {
            **{k: v for k, v in shown.items() if k != "visitors_per_share"},
            "revenue_cents": str(nina_cents),  # cents in the CSV and API, euros on the page
        }
        # Visits: the friend's clicks on the link (not the preview).
        assert total("visits") == Click.objects.filter(is_preview=False, flagged=False).count()
        # And the JSON API the page is built from says the same.
        api = context.request.get(f"{base}/api/referrals/dashboard/")
        assert api.status == 200
        totals = api.json()["totals"]
        assert {k: str(totals[k]) for k in shown if k != "visitors_per_share"} == {
            **{k: v for k, v in shown.items() if k != "visitors_per_share"},
            "revenue_cents": str(nina_cents),
        }
    finally:
        for context in contexts:
            context.close()
