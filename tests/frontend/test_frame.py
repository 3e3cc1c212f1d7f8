"""Issue 18 point 10, the frame: a favicon; the login link never nests ``next``; back on
an invitation after logging in, the join goes on without a second tap; the guest sign-up
page names the trip and pops no keyboard. (The header's height at 360 px is measured in
the browser: tests/e2e/test_pages_measured.py.)"""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from groups.models import Membership
from groups.services import invitation_create
from tests import factories

pytestmark = pytest.mark.django_db

ENGLISH = {"Accept-Language": "en"}


def _code(message) -> str:
    return re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", message.body, re.M).group(1)


@pytest.fixture
def invitation():
    trip = factories.trip(title="Lyon entre amis")
    _invitation, token = invitation_create(group_id=trip.group_id, by=trip.created_by)
    return trip, f"/join/{token}/"


def test_pages_name_a_favicon_and_favicon_ico_answers():
    page = Client().get("/").content.decode()
    assert 'rel="icon"' in page and 'rel="apple-touch-icon"' in page
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"].endswith(".png")


def test_the_login_pages_own_login_link_does_not_nest_next():
    page = Client(headers=ENGLISH).get("/accounts/login/?next=/trips/").content.decode()
    links = re.findall(r'href="(/accounts/login/[^"]*)"', page)
    assert links and all("%3Fnext" not in link and "next%3D" not in link for link in links)
    assert 'href="/accounts/login/?next=/trips/"' in page


def test_the_header_link_brings_back_to_the_page_one_is_on():
    page = Client(headers=ENGLISH).get("/?origin=FRPLY").content.decode()
    assert 'href="/accounts/login/?next=/%3Forigin%3DFRPLY"' in page


def test_after_logging_in_from_an_invitation_the_join_goes_on_by_itself(invitation):
    trip, path = invitation
    guest = factories.user("Gina Guest", email="gina@example.test")
    EmailAddress.objects.create(user=guest, email=guest.email, verified=True, primary=True)
    client = Client(headers=ENGLISH)
    assert client.get(path).status_code == 200  # the invitation, logged out

    asked = client.post("/accounts/login/code/", {"email": guest.email, "next": path})
    confirmed = client.post(asked["Location"], {"code": _code(mail.outbox[0])})
    assert confirmed["Location"] == path
    back = client.get(path)

    assert back.status_code == 302 and back["Location"] == f"/trips/{trip.pk}/"
    assert Membership.objects.get(group=trip.group, user=guest).status == "active"


def test_a_link_opened_already_logged_in_still_asks_before_joining(invitation):
    trip, path = invitation
    someone = factories.user("Sam Someone")
    client = Client(headers=ENGLISH)
    client.force_login(someone)
    page = client.get(path)
    assert page.status_code == 200 and "Join the trip" in page.content.decode()
    assert not Membership.objects.filter(group=trip.group, user=someone).exists()


def test_the_guest_sign_up_names_the_trip_and_pops_no_keyboard(invitation):
    _trip, path = invitation
    page = Client(headers=ENGLISH).get(f"/accounts/signup/?next={path}").content.decode()
    assert "You are joining a trip" in page and "Lyon entre amis" in page
    assert "autofocus" not in page
    plain = Client(headers=ENGLISH).get("/accounts/signup/").content.decode()
    assert "Join Sidebyside" in plain and "You are joining a trip" not in plain


def test_facebook_s_fragment_is_dropped_from_the_address():
    page = Client().get("/").content.decode()
    assert 'location.hash === "#_=_"' in page and "history.replaceState" in page
