"""Facebook's platform callbacks: data deletion (with its status page) and deauthorise.
Facebook POSTs a signed request; only a valid one changes anything."""

import time

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from groups.account_services import FORMER_TRAVELLER_NAME
from groups.models import DataDeletionRequest, Membership, Profile
from groups.signals import group_changed
from groups.signed_request import signed_request_make
from tests import factories
from tests.groups.test_login_by_code import code_in

pytestmark = pytest.mark.django_db

SECRET = "the-apps-secret-for-these-tests"
FACEBOOK_ID = "10001"


@pytest.fixture(autouse=True)
def facebook_secret(settings):
    settings.FACEBOOK_APP_SECRET = SECRET
    settings.FACEBOOK_SIGNED_REQUEST_MAX_AGE_SECONDS = 3600


def signed(user_id=FACEBOOK_ID, *, secret=SECRET, issued_at=None, **extra) -> str:
    payload = {
        "algorithm": "HMAC-SHA256",
        "issued_at": int(time.time()) if issued_at is None else issued_at,
        "user_id": user_id,
    }
    return signed_request_make(payload | extra, secret)


def facebook_user(*, name="Alice Martin", facebook_id=FACEBOOK_ID, verified_email=None):
    """Someone who logged in with Facebook: the link, a stored token, the profile."""
    user = factories.user(name, facebook_id=facebook_id, email=verified_email or "")
    if verified_email is None:
        user.email = "alice-from-facebook@example.test"
        user.first_name, user.last_name = "Alice", "Martin"
        user.username = "alice"
        user.save()
        EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    else:
        EmailAddress.objects.create(user=user, email=verified_email, verified=True, primary=True)
    Profile.objects.filter(user=user).update(avatar_url="https://cdn.example.test/alice.jpg")
    account = SocialAccount.objects.create(
        user=user, provider="facebook", uid=facebook_id, extra_data={"name": name}
    )
    SocialToken.objects.create(account=account, token="EAA-stored-token")
    return user


def post(client, url_name: str, signed_request):
    data = {} if signed_request is None else {"signed_request": signed_request}
    return client.post(reverse(url_name), data)


def snapshot() -> tuple:
    return (
        list(Profile.objects.order_by("pk").values()),
        list(SocialAccount.objects.order_by("pk").values_list("uid", flat=True)),
        SocialToken.objects.count(),
        list(EmailAddress.objects.order_by("pk").values_list("email", "verified")),
        list(get_user_model().objects.order_by("pk").values("username", "email", "first_name")),
        DataDeletionRequest.objects.count(),
    )


# --- Data deletion -------------------------------------------------------------------------


def test_a_valid_request_deletes_the_facebook_data_and_answers_url_and_code(client):
    user = facebook_user()
    friend = factories.user("Bruno Petit", facebook_id="10002")

    response = post(client, "facebook_data_deletion", signed())

    assert response.status_code == 200
    body = response.json()
    code = body["confirmation_code"]
    assert len(code) >= 32
    assert body["url"] == f"http://testserver/facebook/deletion/{code}/"
    profile = Profile.objects.get(user=user)
    assert profile.facebook_id is None
    assert profile.avatar_url == ""
    # No confirmed address: the name came from Facebook and goes too.
    assert profile.display_name == FORMER_TRAVELLER_NAME
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("", "", "")
    assert "alice" not in user.username
    assert not SocialAccount.objects.filter(user=user).exists()
    assert not SocialToken.objects.exists()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert DataDeletionRequest.objects.get(confirmation_code=code).status == "done"
    # Someone else's data is untouched.
    assert Profile.objects.get(user=friend).facebook_id == "10002"
    assert Profile.objects.get(user=friend).display_name == "Bruno Petit"


def test_the_status_page_shows_the_request(client):
    facebook_user()
    code = post(client, "facebook_data_deletion", signed()).json()["confirmation_code"]

    page = client.get(
        reverse("facebook_deletion_status", args=[code]), headers={"Accept-Language": "en"}
    )

    assert page.status_code == 200
    text = page.content.decode()
    assert code in text
    assert "we have deleted the data Facebook gave us" in text
    assert page["Referrer-Policy"] == "no-referrer"


def test_the_status_page_of_an_unknown_code_is_a_404(client):
    response = client.get(reverse("facebook_deletion_status", args=["not-a-real-code"]))
    assert response.status_code == 404


def test_someone_with_a_confirmed_address_keeps_their_name_and_their_account(client):
    user = facebook_user(verified_email="alice@example.test")

    response = post(client, "facebook_data_deletion", signed())

    assert response.status_code == 200
    profile = Profile.objects.get(user=user)
    assert (profile.facebook_id, profile.avatar_url) == (None, "")
    assert profile.display_name == "Alice Martin"
    user.refresh_from_db()
    assert user.is_active and user.email == "alice@example.test"
    assert EmailAddress.objects.get(user=user).verified
    assert not SocialAccount.objects.exists() and not SocialToken.objects.exists()


def test_the_groups_hear_that_the_member_was_anonymised(client, django_capture_on_commit_callbacks):
    user = facebook_user()
    trip = factories.trip(organiser=user)
    heard = []

    def listener(sender, **kwargs):
        heard.append((kwargs["group_id"], kwargs["kind"], kwargs["user_id"]))

    group_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            post(client, "facebook_data_deletion", signed())
    finally:
        group_changed.disconnect(listener)

    assert heard == [(trip.group_id, "member_anonymised", user.pk)]
    # Still a traveller of the trip, under the anonymous name.
    assert Membership.objects.get(user=user).status == "active"


def test_an_unknown_user_still_gets_a_code_and_nothing_changes(client):
    facebook_user()
    before = snapshot()

    response = post(client, "facebook_data_deletion", signed("99999"))

    assert response.status_code == 200
    code = response.json()["confirmation_code"]
    assert DataDeletionRequest.objects.get(confirmation_code=code).status == "nothing_found"
    after = snapshot()
    assert after[:-1] == before[:-1]
    assert after[-1] == before[-1] + 1
    page = client.get(response.json()["url"], headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "we hold no data from Facebook" in page.content.decode()


def test_two_requests_get_two_different_codes(client):
    facebook_user()
    first = post(client, "facebook_data_deletion", signed()).json()["confirmation_code"]
    second = post(client, "facebook_data_deletion", signed()).json()["confirmation_code"]
    assert first != second
    assert DataDeletionRequest.objects.get(confirmation_code=second).status == "nothing_found"


BAD_REQUESTS = {
    "forged": lambda: signed(secret="someone-elses-secret"),
    "expired": lambda: signed(issued_at=int(time.time()) - 2 * 3600),
    "from the future": lambda: signed(issued_at=int(time.time()) + 3600),
    "malformed": lambda: "not.a.signed.request",
    "garbage": lambda: "%%%",
    "missing": lambda: None,
    "empty": lambda: "",
    "without user": lambda: signed(user_id=""),
    "user id not a string": lambda: signed(user_id={"id": FACEBOOK_ID}),
}


@pytest.mark.parametrize("kind", BAD_REQUESTS)
@pytest.mark.parametrize("url_name", ["facebook_data_deletion", "facebook_deauthorise"])
def test_an_invalid_signed_request_is_refused_and_changes_nothing(client, kind, url_name):
    facebook_user()
    before = snapshot()

    response = post(client, url_name, BAD_REQUESTS[kind]())

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signed_request_invalid"
    assert snapshot() == before


def test_the_callbacks_take_posts_only(client):
    assert client.get(reverse("facebook_data_deletion")).status_code == 405
    assert client.get(reverse("facebook_deauthorise")).status_code == 405


def test_without_an_app_secret_nothing_is_done(client, settings):
    facebook_user()
    before = snapshot()
    settings.FACEBOOK_APP_SECRET = ""

    response = post(client, "facebook_data_deletion", signed())

    assert response.status_code == 503
    assert snapshot() == before


def test_the_callbacks_need_no_csrf_token():
    facebook_user()
    client = Client(enforce_csrf_checks=True)
    response = post(client, "facebook_data_deletion", signed())
    assert response.status_code == 200


# --- Deauthorise ---------------------------------------------------------------------------


def test_deauthorise_drops_the_facebook_link_and_keeps_the_account(client):
    user = facebook_user(verified_email="alice@example.test")

    response = post(client, "facebook_deauthorise", signed())

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert not SocialAccount.objects.exists()
    assert not SocialToken.objects.exists()
    profile = Profile.objects.get(user=user)
    assert profile.facebook_id is None
    assert profile.display_name == "Alice Martin"
    user.refresh_from_db()
    assert user.is_active
    assert EmailAddress.objects.filter(user=user, verified=True).exists()
    assert not DataDeletionRequest.objects.exists()


def test_deauthorise_of_an_unknown_user_answers_ok_and_changes_nothing(client):
    facebook_user()
    before = snapshot()

    response = post(client, "facebook_deauthorise", signed("99999"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert snapshot() == before


def test_after_deauthorising_the_person_logs_in_with_a_code(client):
    user = facebook_user(verified_email="alice@example.test")
    post(client, "facebook_deauthorise", signed())

    client.post(reverse("account_request_login_code"), {"email": "alice@example.test"})
    response = client.post(reverse("account_confirm_login_code"), {"code": code_in(mail.outbox[0])})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
