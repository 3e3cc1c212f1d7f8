"""Guests never stuck (issue 22, point 10): a guest who cancels the code page and signs up
again with the same address receives a code that works; someone signing up with an
address already confirmed is told, by e-mail only, to log in with a code (no password
reset); allauth's password pages are not reachable."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from groups.models import Profile
from tests.groups.test_login_by_code import KNOWN, code_in, guest, logged_in_user_id  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]

ADDRESS = "lea@example.test"


@pytest.fixture(autouse=True)
def no_wait_between_codes(settings):
    """allauth sends one code per address every 10 s; a person takes longer than a test."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "confirm_email": None}


def test_a_guest_who_cancels_and_signs_up_again_gets_a_code_that_works(client):
    first = client.post(reverse("account_signup"), {"name": "Léa", "email": ADDRESS})
    assert first["Location"] == reverse("account_email_verification_sent")
    client.post(reverse("account_logout"), {"next": reverse("account_login")})  # "Cancel"

    again = client.post(reverse("account_signup"), {"name": "Léa Martin", "email": ADDRESS})

    assert again.status_code == 302
    assert again["Location"] == reverse("account_email_verification_sent")  # as a first time
    assert [m.to for m in mail.outbox] == [[ADDRESS], [ADDRESS]]
    code = code_in(mail.outbox[-1])
    done = client.post(reverse("account_email_verification_sent"), {"code": code})
    assert done.status_code == 302
    user = get_user_model().objects.get(email=ADDRESS)
    assert logged_in_user_id(client) == str(user.pk)
    assert EmailAddress.objects.get(user=user).verified
    assert Profile.objects.get(user=user).display_name == "Léa Martin"
    assert get_user_model().objects.filter(email__iexact=ADDRESS).count() == 1


def test_signing_up_again_in_another_browser_works_too(client, django_user_model):
    from django.test import Client

    Client().post(reverse("account_signup"), {"name": "Léa", "email": ADDRESS})
    client.post(reverse("account_signup"), {"name": "Léa", "email": ADDRESS})
    client.post(reverse("account_email_verification_sent"), {"code": code_in(mail.outbox[-1])})
    assert logged_in_user_id(client) == str(django_user_model.objects.get(email=ADDRESS).pk)


def test_a_confirmed_address_gets_a_login_code_link_never_a_password_reset(client, guest):  # noqa: F811
    page = client.post(reverse("account_signup"), {"name": "Someone", "email": KNOWN})
    # The same answer as for a new address: nobody learns the address is known.
    assert page["Location"] == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None
    (message,) = mail.outbox
    assert message.to == [KNOWN]
    assert reverse("account_request_login_code") in message.body
    assert "password" not in message.body.lower()
    assert Profile.objects.get(user=guest).display_name == "Gabrielle Roy"


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password/reset/",
        "/accounts/password/change/",
        "/accounts/password/set/",
        "/accounts/password/reset/key/1-abc/",
        "/accounts/password/reset/done/",
    ],
)
def test_password_pages_are_not_reachable(client, guest, path):  # noqa: F811
    assert client.get(path).status_code == 404
    client.force_login(guest)
    assert client.get(path).status_code == 404


def test_an_address_facebook_gave_is_not_handed_a_code_by_signing_up(client):
    from allauth.socialaccount.models import SocialAccount

    user = get_user_model().objects.create(username="fb", email=ADDRESS)
    EmailAddress.objects.create(user=user, email=ADDRESS, verified=False, primary=True)
    SocialAccount.objects.create(user=user, provider="facebook", uid="123")
    client.post(reverse("account_signup"), {"name": "Someone", "email": ADDRESS})
    assert all("password" not in m.body.lower() for m in mail.outbox)
    # allauth's guard answers (the same page), and no mail carries a code to type.
    assert not any(
        re.search(r"^\s*[A-Z0-9]{4}-?[A-Z0-9]{4}\s*$", m.body, re.M) for m in mail.outbox
    )
    assert logged_in_user_id(client) is None


def test_signing_up_again_from_an_invitation_goes_on_to_the_invitation(client):
    """The second signup keeps where the first was going: the invitation being joined."""
    after = "/join/a-token/"
    client.post(f"{reverse('account_signup')}?next={after}", {"name": "Léa", "email": ADDRESS})
    client.post(reverse("account_logout"), {"next": reverse("account_login")})  # "Cancel"

    client.post(f"{reverse('account_signup')}?next={after}", {"name": "Léa", "email": ADDRESS})
    done = client.post(
        reverse("account_email_verification_sent"), {"code": code_in(mail.outbox[-1])}
    )

    assert done.status_code == 302
    assert done["Location"] == after
