"""Facebook Login end to end: the Django test client plays the browser on our side, and
``requests`` plays it on the fake Facebook's (a real HTTP server on loopback). Our server
exchanges the code, inspects the token and reads the profile over HTTP, as in production.
"""

from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from groups.models import Profile
from tests.groups.conftest import ALICE, EMMA, GRAPH_VERSION, OTHER_APP, REDIRECT_URI, _Links

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rate_limits")]

ENGLISH = {"Accept-Language": "en"}


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def login_start(client, fake) -> str:
    """POST to our provider login URL; returns the dialog URL it redirects to."""
    response = client.post(reverse("facebook_login"))
    assert response.status_code == 302
    dialog = response["Location"]
    assert dialog.startswith(f"{fake.url}/{GRAPH_VERSION}/dialog/oauth?")
    return dialog


def dialog_choose(dialog: str, user) -> str:
    """Pick ``user`` on the fake's dialog; returns our callback path with code and state."""
    page = requests.get(dialog, timeout=5)
    assert page.status_code == 200, page.text
    assert "Facebook sandbox" in page.text
    links = _Links()
    links.feed(page.text)
    chosen = requests.get(
        urljoin(page.url, links.by_user[user.id]), allow_redirects=False, timeout=5
    )
    assert chosen.status_code == 302
    location = chosen.headers["Location"].removesuffix("#_=_")
    assert location.startswith(REDIRECT_URI)
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def logged_in_user(client):
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


def test_the_dialog_gets_our_state_redirect_uri_app_and_scopes(client, facebook_settings):
    fake_url = facebook_settings.FACEBOOK_DIALOG_URL
    dialog = client.post(reverse("facebook_login"))["Location"]
    params = _query(dialog)
    assert dialog.startswith(f"{fake_url}/{GRAPH_VERSION}/dialog/oauth?")
    assert params["client_id"] == facebook_settings.FACEBOOK_APP_ID
    assert params["redirect_uri"] == REDIRECT_URI
    assert len(params["state"]) >= 12
    assert params["response_type"] == "code"
    assert set(params["scope"].split(",")) == {"public_profile", "email", "user_friends"}


def test_full_login_ends_logged_in_with_a_profile_from_facebook(
    client, facebook_settings, fake_facebook
):
    callback = dialog_choose(login_start(client, fake_facebook), ALICE)

    response = client.get(callback)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = logged_in_user(client)
    assert user is not None and user.email == ALICE.email
    profile = Profile.objects.get(user=user)
    assert profile.facebook_id == ALICE.id
    assert profile.display_name == "Alice Martin"
    assert profile.avatar_url == f"{fake_facebook.url}/pictures/{ALICE.id}.svg"
    assert profile.preferred_language == "fr"
    paths = [r.path for r in fake_facebook.requests]
    assert f"/{GRAPH_VERSION}/oauth/access_token" in paths
    assert f"/{GRAPH_VERSION}/debug_token" in paths, "the token was never inspected"
    assert f"/{GRAPH_VERSION}/me" in paths
    home = client.get(reverse("home"))
    assert "Alice Martin" in home.content.decode()


def test_a_second_login_refreshes_the_same_profile(client, facebook_settings, fake_facebook):
    client.get(dialog_choose(login_start(client, fake_facebook), ALICE))
    Profile.objects.update(display_name="Old name", avatar_url="")
    client.post(reverse("account_logout"))
    assert logged_in_user(client) is None

    client.get(dialog_choose(login_start(client, fake_facebook), ALICE))

    assert get_user_model().objects.count() == 1
    profile = Profile.objects.get()
    assert profile.display_name == "Alice Martin"
    assert profile.avatar_url.endswith(f"/pictures/{ALICE.id}.svg")
    assert logged_in_user(client) == profile.user


def test_someone_without_an_email_address_can_log_in(client, facebook_settings, fake_facebook):
    response = client.get(dialog_choose(login_start(client, fake_facebook), EMMA))

    assert response.status_code == 302
    user = logged_in_user(client)
    assert user is not None and user.email == ""
    assert Profile.objects.get(user=user).display_name == "Emma Leroy"


def test_a_forged_state_is_refused(client, facebook_settings, fake_facebook):
    callback = dialog_choose(login_start(client, fake_facebook), ALICE)
    params = _query(callback) | {"state": "forged-state-value"}
    response = client.get(reverse("facebook_callback"), params, headers=ENGLISH)

    assert response.status_code == 400
    assert "did not start here" in response.content.decode()
    assert logged_in_user(client) is None
    assert not Profile.objects.exists()


def test_a_missing_state_is_refused(client, facebook_settings, fake_facebook):
    callback = dialog_choose(login_start(client, fake_facebook), ALICE)
    params = {"code": _query(callback)["code"]}
    response = client.get(reverse("facebook_callback"), params)

    assert response.status_code == 400
    assert logged_in_user(client) is None


def test_a_callback_from_another_browser_is_refused(facebook_settings, fake_facebook):
    victim, attacker = Client(), Client()
    # The attacker's own code and state, replayed in the victim's browser (login CSRF).
    callback = dialog_choose(login_start(attacker, fake_facebook), ALICE)

    response = victim.get(callback)

    assert response.status_code == 400
    assert logged_in_user(victim) is None


def test_a_token_of_another_app_is_refused_by_the_debug_token_check(
    client, facebook_settings, fake_facebook
):
    callback = dialog_choose(login_start(client, fake_facebook), ALICE)
    # A valid token, but issued to someone else's app, comes out of the code exchange.
    foreign = fake_facebook.user_token_issue(ALICE.id, app_id=OTHER_APP.id)
    fake_facebook.answer_next(200, {"access_token": foreign, "token_type": "bearer"})

    response = client.get(callback, headers=ENGLISH)

    assert response.status_code == 400
    assert "Facebook did not confirm this login" in response.content.decode()
    assert logged_in_user(client) is None
    assert not get_user_model().objects.exists()
    assert f"/{GRAPH_VERSION}/me" not in [r.path for r in fake_facebook.requests]


def test_facebook_down_gives_a_clear_error_page(client, facebook_settings, fake_facebook):
    callback = dialog_choose(login_start(client, fake_facebook), ALICE)
    fake_facebook.stop()

    response = client.get(callback, headers=ENGLISH)

    assert response.status_code == 503
    assert "Facebook cannot be reached right now" in response.content.decode()
    assert logged_in_user(client) is None


def test_cancelling_on_facebook_lands_on_a_page_of_ours(client, facebook_settings, fake_facebook):
    dialog = login_start(client, fake_facebook)
    page = requests.get(dialog, timeout=5)
    links = _Links()
    links.feed(page.text)
    cancelled = requests.get(urljoin(page.url, links.cancel), allow_redirects=False, timeout=5)
    parts = urlsplit(cancelled.headers["Location"].removesuffix("#_=_"))

    response = client.get(f"{parts.path}?{parts.query}", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("socialaccount_login_cancelled")
    assert logged_in_user(client) is None


def test_login_page_offers_facebook_as_a_post_form(client, facebook_settings):
    page = client.get(reverse("account_login")).content.decode()

    assert f'action="{reverse("facebook_login")}"' in page
    assert 'method="post"' in page


def test_without_an_app_id_the_login_page_offers_only_email(client, settings):
    settings.FACEBOOK_APP_ID = ""
    settings.FACEBOOK_APP_SECRET = ""

    page = client.get(reverse("account_login")).content.decode()

    assert reverse("facebook_login") not in page
    assert reverse("account_request_login_code") in page


def test_the_sandbox_is_labelled_on_the_login_page(client, facebook_settings):
    facebook_settings.FACEBOOK_SANDBOX = True
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Facebook sandbox (local demo)" in page

    facebook_settings.FACEBOOK_SANDBOX = False
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "sandbox" not in page.lower()
