"""The fake Facebook itself, spoken to over plain HTTP: the login library of the next issue
and the sandbox rely on it playing Facebook's part faithfully."""

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from groups.signed_request import signed_request_parse
from tests.groups.conftest import (
    ALICE,
    EMMA,
    FRIENDS_USING_APP,
    REDIRECT_URI,
    code_exchange,
    dialog_open,
    redirect_params,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("facebook_settings")


def _proof(fake_facebook, token: str) -> dict:
    proof = hmac.new(fake_facebook.app.secret.encode(), token.encode(), hashlib.sha256)
    return {"appsecret_proof": proof.hexdigest()}


def _code(settings, user, *, state="s1", scope="email") -> str:
    page_url, links = dialog_open(
        settings, client_id=settings.FACEBOOK_APP_ID, scope=scope, state=state
    )
    chosen = requests.get(
        urljoin(page_url, links.by_user[user.id]), allow_redirects=False, timeout=5
    )
    return redirect_params(chosen)["code"]


def test_dialog_is_labelled_as_a_sandbox_and_lists_the_test_users(settings, fake_facebook):
    url = f"{fake_facebook.url}/v23.0/dialog/oauth"
    params = {"client_id": settings.FACEBOOK_APP_ID, "redirect_uri": REDIRECT_URI}

    page = requests.get(url, params=params | {"state": "s1"}, timeout=5)

    assert page.status_code == 200
    assert "Facebook sandbox — not the real Facebook" in page.text
    assert "Alice Martin" in page.text
    assert "Cancel" in page.text


def test_choosing_a_test_user_redirects_with_a_code_and_the_same_state(settings):
    page_url, links = dialog_open(
        settings, client_id=settings.FACEBOOK_APP_ID, scope="email", state="the-state"
    )

    chosen = requests.get(
        urljoin(page_url, links.by_user[ALICE.id]), allow_redirects=False, timeout=5
    )

    answer = redirect_params(chosen)
    assert answer["state"] == "the-state"
    assert answer["code"]
    assert chosen.headers["Location"].endswith("#_=_")  # as Facebook does


def test_cancel_redirects_with_access_denied_and_the_same_state(settings):
    page_url, links = dialog_open(
        settings, client_id=settings.FACEBOOK_APP_ID, scope="email", state="the-state"
    )

    cancelled = requests.get(urljoin(page_url, links.cancel), allow_redirects=False, timeout=5)

    answer = redirect_params(cancelled)
    assert answer["error"] == "access_denied"
    assert answer["error_reason"] == "user_denied"
    assert answer["state"] == "the-state"
    assert "code" not in answer


def test_unknown_client_id_gets_an_error_page_and_no_redirect(fake_facebook):
    page = requests.get(
        f"{fake_facebook.url}/v23.0/dialog/oauth",
        params={"client_id": "424242", "redirect_uri": REDIRECT_URI, "state": "s"},
        allow_redirects=False,
        timeout=5,
    )

    assert page.status_code == 400
    assert "Invalid App ID" in page.text
    assert "Location" not in page.headers


def test_a_code_works_only_once(settings):
    code = _code(settings, ALICE)
    credentials = {
        "client_id": settings.FACEBOOK_APP_ID,
        "client_secret": settings.FACEBOOK_APP_SECRET,
    }

    first = code_exchange(settings, code=code, **credentials)
    second = code_exchange(settings, code=code, **credentials)

    assert first.status_code == 200
    assert first.json()["token_type"] == "bearer"
    assert second.status_code == 400
    error = second.json()["error"]
    assert (error["type"], error["code"]) == ("OAuthException", 100)
    assert error["fbtrace_id"]


def test_code_exchange_with_a_wrong_secret_is_refused(settings):
    code = _code(settings, ALICE)

    answer = code_exchange(
        settings, client_id=settings.FACEBOOK_APP_ID, client_secret="wrong", code=code
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "OAuthException"


def test_code_exchange_with_another_redirect_uri_is_refused(settings, fake_facebook):
    code = _code(settings, ALICE)

    answer = requests.get(
        f"{fake_facebook.url}/v23.0/oauth/access_token",
        params={
            "client_id": settings.FACEBOOK_APP_ID,
            "client_secret": settings.FACEBOOK_APP_SECRET,
            "redirect_uri": "http://evil.example/callback/",
            "code": code,
        },
        timeout=5,
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["error_subcode"] == 36008


def test_logging_in_through_the_dialog_makes_a_user_use_the_app(fake_facebook, facebook_login):
    assert EMMA.id not in fake_facebook.users_using_app()

    facebook_login(EMMA)

    assert EMMA.id in fake_facebook.users_using_app()


def test_friends_next_url_is_absolute_and_leads_to_the_next_page(fake_facebook, facebook_login):
    token = facebook_login(ALICE)
    # Our app requires appsecret_proof, which "next" does not carry (nor does Facebook's).
    proof = _proof(fake_facebook, token)
    url = f"{fake_facebook.url}/me/friends"  # without the version, as Facebook allows
    seen = []
    answer = requests.get(url, params={"access_token": token, "limit": 2} | proof, timeout=5)
    while True:
        assert answer.status_code == 200, answer.text
        answer = answer.json()
        seen += [friend["id"] for friend in answer["data"]]
        next_url = answer.get("paging", {}).get("next")
        if not next_url:
            break
        assert next_url.startswith(f"{fake_facebook.url}/{ALICE.id}/friends?")
        answer = requests.get(next_url, params=proof, timeout=5)

    assert sorted(seen) == sorted(u.id for u in FRIENDS_USING_APP)
    assert answer["summary"]["total_count"] == 8  # every friend, users of the app or not


def test_an_app_that_requires_appsecret_proof_refuses_calls_without_it(
    fake_facebook, facebook_login
):
    token = facebook_login(ALICE)
    url = f"{fake_facebook.url}/v23.0/me"

    without = requests.get(url, params={"access_token": token}, timeout=5)
    wrong = requests.get(
        url, params={"access_token": token, "appsecret_proof": "0" * 64}, timeout=5
    )
    right = requests.get(
        url, params={"access_token": token} | _proof(fake_facebook, token), timeout=5
    )

    assert (without.status_code, wrong.status_code, right.status_code) == (400, 400, 200)
    assert "appsecret_proof" in without.json()["error"]["message"]
    assert right.json() == {"id": ALICE.id, "name": ALICE.name}  # default fields


def test_unknown_field_is_refused_as_facebook_does(fake_facebook, facebook_login):
    token = facebook_login(ALICE)

    answer = requests.get(
        f"{fake_facebook.url}/v23.0/me",
        params={"access_token": token, "fields": "id,verified"} | _proof(fake_facebook, token),
        timeout=5,
    )

    assert answer.status_code == 400
    assert "nonexisting field (verified)" in answer.json()["error"]["message"]


def test_signed_request_from_the_fake_passes_our_parser(fake_facebook):
    signed_request = fake_facebook.signed_request(ALICE.id)

    payload = signed_request_parse(signed_request, secret=fake_facebook.app.secret)

    assert payload["user_id"] == ALICE.id


def test_runs_alone_and_prints_where_it_listens():
    process = subprocess.Popen(
        [sys.executable, "-m", "sandboxes.facebook_server", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        url = first_line.rsplit(" ", 1)[-1].strip()
        assert first_line.startswith(
            "Facebook sandbox (not the real Facebook) at http://127.0.0.1:"
        )
        assert "Facebook sandbox" in requests.get(url, timeout=5).text
    finally:
        process.terminate()
        process.wait(timeout=5)  # SIGTERM stops it cleanly
