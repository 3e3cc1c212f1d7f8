"""People without Facebook: sign up with a name and an e-mail address, confirm it with a
code; later, log in with a code sent to that address. No password anywhere."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from groups.models import Profile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]

KNOWN = "gabrielle@example.test"
UNKNOWN = "nobody@example.test"


@pytest.fixture
def guest():
    user = get_user_model().objects.create(username="gabrielle", email=KNOWN)
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email=KNOWN, verified=True, primary=True)
    Profile.objects.create(user=user, display_name="Gabrielle Roy")
    return user


def code_in(message) -> str:
    match = re.search(r"^\s*([A-Z0-9]{4}-?[A-Z0-9]{4})\s*$", message.body, re.MULTILINE)
    assert match, message.body
    return match.group(1)


def _comparable(page, address: str) -> str:
    # The page names the address it was sent to; CSRF tokens are masked per response, and
    # so are the Content-Security-Policy nonces of its scripts.
    text = page.content.decode().replace(address, "ADDRESS")
    text = re.sub(r' nonce="[^"]+"', "", text)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


def test_a_guest_signs_up_with_a_name_and_confirms_the_code(client):
    response = client.post(
        reverse("account_signup"), {"name": "  Hélène   Dupont ", "email": "helene@example.test"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert logged_in_user_id(client) is None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["helene@example.test"]

    response = client.post(
        reverse("account_email_verification_sent"), {"code": code_in(mail.outbox[0])}
    )

    assert response.status_code == 302
    user = get_user_model().objects.get(email="helene@example.test")
    assert logged_in_user_id(client) == str(user.pk)
    assert not user.has_usable_password()
    profile = Profile.objects.get(user=user)
    assert profile.display_name == "Hélène Dupont"
    assert profile.facebook_id is None
    assert profile.preferred_language == "fr"
    assert EmailAddress.objects.get(user=user).verified


def test_a_name_typed_for_someone_elses_address_never_becomes_their_name():
    victim = "victor@example.test"
    mallory = Client()
    mallory.post(reverse("account_signup"), {"name": "Mallory Was Here", "email": victim})
    assert [m.to for m in mail.outbox] == [[victim]]  # Mallory cannot read the code

    # Later the address's owner logs in with a code sent to it: the account is theirs now.
    owner = Client()
    owner.post(reverse("account_request_login_code"), {"email": victim})
    owner.post(reverse("account_confirm_login_code"), {"code": code_in(mail.outbox[-1])})

    user = get_user_model().objects.get(email=victim)
    assert logged_in_user_id(owner) == str(user.pk)
    assert EmailAddress.objects.get(user=user).verified
    assert Profile.objects.get(user=user).display_name == victim
    assert "Mallory" not in owner.get(reverse("home")).content.decode()


def test_a_returning_guest_logs_in_with_a_code(client, guest):
    response = client.post(reverse("account_request_login_code"), {"email": KNOWN})

    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_login_code")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [KNOWN]
    page = client.get(reverse("account_confirm_login_code"))
    assert KNOWN in page.content.decode()

    response = client.post(reverse("account_confirm_login_code"), {"code": code_in(mail.outbox[0])})

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(guest.pk)
    home = client.get(reverse("home")).content.decode()
    assert "Gabrielle Roy" in home


def test_a_wrong_code_is_refused(client, guest):
    client.post(reverse("account_request_login_code"), {"email": KNOWN})
    right = code_in(mail.outbox[0])
    wrong = "ZZZZ-ZZZZ" if right != "ZZZZ-ZZZZ" else "YYYY-YYYY"

    response = client.post(reverse("account_confirm_login_code"), {"code": wrong})

    assert response.status_code == 200
    assert logged_in_user_id(client) is None
    assert 'aria-invalid="true"' in response.content.decode()


def test_the_code_stops_working_after_three_wrong_tries(client, guest):
    client.post(reverse("account_request_login_code"), {"email": KNOWN})
    right = code_in(mail.outbox[0])
    for _attempt in range(3):
        client.post(reverse("account_confirm_login_code"), {"code": "ZZZZ-ZZZZ"})

    client.post(reverse("account_confirm_login_code"), {"code": right})

    assert logged_in_user_id(client) is None


def test_known_and_unknown_addresses_get_the_same_answer(client, guest):
    known = client.post(reverse("account_request_login_code"), {"email": KNOWN})
    known_page = client.get(known["Location"])
    client.logout()
    unknown = client.post(reverse("account_request_login_code"), {"email": UNKNOWN})
    unknown_page = client.get(unknown["Location"])

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known_page.status_code == unknown_page.status_code == 200
    assert _comparable(known_page, KNOWN) == _comparable(unknown_page, UNKNOWN)
    # Both addresses get a message: its content tells the owner, not the requester.
    assert [m.to for m in mail.outbox] == [[KNOWN], [UNKNOWN]]
    assert not get_user_model().objects.filter(email=UNKNOWN).exists()


def test_signing_up_with_a_taken_address_looks_like_a_new_signup(client, guest):
    response = client.post(reverse("account_signup"), {"name": "Someone", "email": KNOWN})

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert get_user_model().objects.filter(email=KNOWN).count() == 1
    assert logged_in_user_id(client) is None


def test_code_requests_are_rate_limited_per_address(guest):
    # Each from a fresh browser, as someone flooding an address would.
    answers = [
        Client().post(reverse("account_request_login_code"), {"email": KNOWN})
        for _attempt in range(4)
    ]

    assert [answer.status_code for answer in answers[:3]] == [302, 302, 302]
    # The fourth within a minute is refused on the form (3/m per address), nothing sent.
    assert answers[3].status_code == 200
    assert 'aria-invalid="true"' in answers[3].content.decode()
    assert len(mail.outbox) == 3


def test_a_name_is_required_to_sign_up(client):
    response = client.post(reverse("account_signup"), {"name": "   ", "email": "x@example.test"})

    assert response.status_code == 200
    assert not get_user_model().objects.exists()
    assert len(mail.outbox) == 0


def test_logging_out_is_a_post(client, guest):
    client.force_login(guest)

    assert client.get(reverse("account_logout")).status_code == 200
    assert logged_in_user_id(client) == str(guest.pk)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert logged_in_user_id(client) is None


def test_login_page_offers_email_and_signup(client):
    page = client.get(reverse("account_login")).content.decode()

    assert f'action="{reverse("account_request_login_code")}"' in page
    assert reverse("account_signup") in page
    assert 'type="password"' not in page
