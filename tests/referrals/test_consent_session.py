"""Point 12 of issue 18: after "Refuse" on the consent banner, no cookie outlives the
browser's session, the session cookie included (it was a two-week ``sessionid``)."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from tests import factories
from tests.referrals.helpers import browser

pytestmark = pytest.mark.django_db


def _outlives_session(morsel) -> bool:
    return bool(morsel["max-age"] or morsel["expires"]) and morsel.value != ""


def _lasting(response) -> list[str]:
    return sorted(name for name, morsel in response.cookies.items() if _outlives_session(morsel))


def test_refusing_turns_an_existing_session_into_a_browser_session_cookie():
    client = browser()
    client.force_login(factories.user("Rita Refuser"))
    response = client.post("/r/consent/", {"decision": "refused", "next": "/"})

    assert response.cookies["sbs_consent"].value == "refused"
    assert "sessionid" in response.cookies
    assert _lasting(response) == []
    assert client.session.get_expire_at_browser_close()


def test_a_login_after_refusing_does_not_bring_back_a_two_week_session():
    # allauth's "remember me" (ACCOUNT_SESSION_REMEMBER) sets the session's age at login.
    guest = factories.user("Gina Guest", email="gina@example.test")
    EmailAddress.objects.create(user=guest, email=guest.email, verified=True, primary=True)
    client = browser()
    client.post("/r/consent/", {"decision": "refused", "next": "/"})

    asked = client.post("/accounts/login/code/", {"email": guest.email, "next": "/trips/"})
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", mail.outbox[0].body, re.M).group(1)
    confirmed = client.post(asked["Location"], {"code": code})

    assert confirmed.status_code == 302
    assert "sessionid" in confirmed.cookies
    assert _lasting(asked) == [] and _lasting(confirmed) == []
    page = client.get("/trips/")
    assert page.status_code == 200 and _lasting(page) == []


def test_accepting_keeps_the_remembered_session_and_consent():
    guest = factories.user("Gina Guest", email="gina@example.test")
    EmailAddress.objects.create(user=guest, email=guest.email, verified=True, primary=True)
    client = browser()
    accepted = client.post("/r/consent/", {"decision": "granted", "next": "/"})
    assert accepted.cookies["sbs_consent"]["max-age"]

    asked = client.post("/accounts/login/code/", {"email": guest.email, "next": "/trips/"})
    code = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", mail.outbox[0].body, re.M).group(1)
    confirmed = client.post(asked["Location"], {"code": code})
    assert confirmed.cookies["sessionid"]["max-age"]


def test_a_refusal_makes_no_session_for_a_browser_without_one():
    client = browser()
    response = client.post("/r/consent/", {"decision": "refused", "next": "/"})
    assert "sessionid" not in response.cookies
    assert _lasting(response) == []
