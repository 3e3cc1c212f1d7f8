"""Friends plan a private trip on their phones: the organiser logs in through the fake
Facebook, plans the trip and makes an invitation link; a friend without Facebook opens
the link, joins as a guest (name, e-mail, code) and appears in the organiser's list; the
organiser withdraws the link, which then refuses the next person clearly; and the trip
page does not exist for someone outside the group.

The pages are in French (the browser's language) and will be translated later, so the
test finds things by form actions, names and data attributes, never by English text.
Screenshots at 360x740 land in tests/e2e/screenshots/ for a person to look at."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone, translation

from booking.models import Trip
from groups.errors import InvitationRevoked
from groups.models import Invitation, Membership
from sandboxes.facebook_server import FakeFacebook, FakeUser
from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE, TIME_ZONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORGANISER = FakeUser("10001", "Alice Martin", "alice@example.test")
OUTSIDER = FakeUser("30001", "Oscar Outsider", "oscar@example.test")
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def fake_facebook(settings):
    fake = FakeFacebook(users=[ORGANISER, OUTSIDER]).start()
    settings.FACEBOOK_APP_ID = fake.app.id
    settings.FACEBOOK_APP_SECRET = fake.app.secret
    settings.FACEBOOK_GRAPH_URL = fake.url
    settings.FACEBOOK_DIALOG_URL = fake.url
    settings.FACEBOOK_SANDBOX = True
    settings.FACEBOOK_TIMEOUT_SECONDS = 5
    yield fake
    fake.stop()
    assert fake.errors == [], "the fake Facebook itself failed"


@pytest.fixture
def stations():
    factories.station(code="FRPLY", name="Paris Gare de Lyon", city="Paris")
    factories.station(code="FRLPD", name="Lyon Part-Dieu", city="Lyon")


def _phone(browser):
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="fr-FR",
        timezone_id=TIME_ZONE,
    )
    page = context.new_page()
    page.set_default_timeout(8_000)
    return context, page


def _facebook_login(page, base_url, user, *, next_path):
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.locator("form.auth__facebook button[type=submit]").click()
    # The fake's dialog: a list of test users; picking one logs them in.
    page.locator(f'a[data-user-id="{user.id}"]').click()
    # Facebook appends "#_=_" to its redirect; the browser keeps it through ours.
    page.wait_for_url(re.compile(re.escape(f"{base_url}{next_path}") + r"(#_=_)?$"))


def _code_in(message) -> str:
    match = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", message.body, re.MULTILINE)
    assert match, message.body
    return match.group(1)


def test_a_guest_joins_a_private_trip_by_link_and_the_withdrawn_link_refuses(
    live_server, browser, screenshots, fake_facebook, stations
):
    base = live_server.url
    contexts = []
    try:
        # --- The organiser logs in with Facebook and plans a private trip.
        context, organiser = _phone(browser)
        contexts.append(context)
        _facebook_login(organiser, base, ORGANISER, next_path="/trips/new/")
        leave = timezone.localdate() + dt.timedelta(days=14)
        organiser.select_option("#id_origin", "FRPLY")
        organiser.select_option("#id_destination", "FRLPD")
        organiser.fill("#id_outbound_from", leave.isoformat())
        organiser.fill("#id_title", "Lyon entre amis")
        assert organiser.locator('input[name="privacy"][value="private"]').is_checked()
        assert organiser.evaluate(NO_HORIZONTAL_SCROLL)
        organiser.screenshot(path=screenshots / "trip-new-fr-360.png", full_page=True)
        organiser.locator('form[action="/trips/new/"] button[type=submit]').click()
        organiser.wait_for_url(re.compile(r"/trips/\d+/$"))
        trip = Trip.objects.get()
        assert (trip.title, trip.group.privacy) == ("Lyon entre amis", "private")
        trip_url = f"{base}/trips/{trip.pk}/"

        # --- It makes an invitation link, shown once on the page.
        organiser.locator(f'form[action^="/trips/{trip.pk}/invitations/"] button').click()
        link_field = organiser.locator("[data-invite-link]")
        link_field.wait_for()
        link = link_field.input_value()
        assert re.fullmatch(rf"{re.escape(base)}/join/[A-Za-z0-9_-]+/", link)
        organiser.locator("[data-invite-copy]").wait_for(state="visible")  # drawn by invite.js
        assert organiser.evaluate(NO_HORIZONTAL_SCROLL)
        organiser.screenshot(path=screenshots / "trip-organiser-invite-fr-360.png", full_page=True)
        organiser.locator("#invite").screenshot(path=screenshots / "trip-invite-panel-fr-360.png")
        share_links = organiser.locator("[data-share-list] a")
        assert [a.get_attribute("href").split(":")[0] for a in share_links.all()] == [
            "fb-messenger",
            "https",  # wa.me
            "mailto",
        ]
        organiser.evaluate("window.scrollTo(0, 0)")
        organiser.screenshot(path=screenshots / "trip-organiser-top-fr-360.png")

        # --- A friend without Facebook opens the link and joins as a guest.
        context, guest = _phone(browser)
        contexts.append(context)
        answer = guest.goto(link)
        assert answer.status == 200
        assert "Lyon entre amis" in guest.locator("h1").inner_text()
        assert "Alice Martin" in guest.locator(".join__facts").inner_text()
        assert guest.evaluate(NO_HORIZONTAL_SCROLL)
        guest.screenshot(path=screenshots / "join-fr-360.png", full_page=True)
        guest.locator('a[href^="/accounts/signup/"]').click()
        guest.fill('input[name="name"]', "Gaspard Invité")
        guest.fill('input[name="email"]', "gaspard@example.test")
        guest.locator('form[action="/accounts/signup/"] button[type=submit]').click()
        guest.locator('input[name="code"]').wait_for()
        guest.fill('input[name="code"]', _code_in(mail.outbox[-1]))
        guest.locator('input[name="code"]').press("Enter")
        # Back on the invitation, logged in now, the join goes on by itself: no second tap
        # (issue 18 point 10).
        guest.wait_for_url(trip_url)
        assert "Gaspard Invité" in guest.locator("#members").text_content()

        # --- The organiser sees them after a reload, then withdraws the link.
        organiser.goto(trip_url)
        assert "Gaspard Invité" in organiser.locator("#members").text_content()
        # A friend has joined: the travellers' fold, and the invitations in it, are folded
        # (the organiser's page stays short); the organiser opens both.
        organiser.locator("details#members > summary").click()
        organiser.locator("[data-invitations] > summary").click()
        organiser.locator('[data-invitation][data-status="active"] form button').click()
        organiser.wait_for_url(trip_url)
        assert organiser.locator('[data-invitation][data-status="revoked"]').count() == 1
        invitation = Invitation.objects.get()
        assert invitation.revoked_at is not None and invitation.uses == 1

        # --- The next person with the link is refused, clearly, with nothing written.
        context, late = _phone(browser)
        contexts.append(context)
        memberships = Membership.objects.count()
        answer = late.goto(link)
        assert answer.status == 410
        message = late.locator(".refused__message").inner_text()
        with translation.override("fr"):  # the page's language, whatever the catalogue holds
            assert message == str(InvitationRevoked.default_message)
        assert "Lyon entre amis" not in late.content()
        assert late.evaluate(NO_HORIZONTAL_SCROLL)
        late.screenshot(path=screenshots / "join-refused-fr-360.png", full_page=True)
        assert Membership.objects.count() == memberships

        # --- Someone logged in but outside the group: the trip does not exist for them.
        context, outsider = _phone(browser)
        contexts.append(context)
        _facebook_login(outsider, base, OUTSIDER, next_path="/trips/")
        answer = outsider.goto(trip_url)
        assert answer.status == 404
        assert "Lyon entre amis" not in outsider.content()
        answer = outsider.goto(link)
        assert answer.status == 410

        # --- For a person to look at: the organiser's pages, phone and desktop.
        organiser.goto(f"{base}/trips/")
        assert organiser.locator(f'a[href="/trips/{trip.pk}/"]').count() >= 1
        organiser.screenshot(path=screenshots / "my-trips-fr-360.png", full_page=True)
        organiser.set_viewport_size(DESKTOP)
        organiser.goto(trip_url)
        organiser.screenshot(path=screenshots / "trip-organiser-fr-1280.png", full_page=True)
    finally:
        for context in contexts:
            context.close()
