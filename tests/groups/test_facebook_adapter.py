"""groups.facebook against the fake Facebook over real HTTP, through the real facebook-sdk.

Tokens come from the login flow (dialog → code → exchange) as the login library will get
them, never from the fake's internals."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from groups import facebook
from groups.errors import FacebookError, FacebookTokenRefused, FacebookUnavailable
from tests.groups.conftest import (
    ALICE,
    EMMA,
    FRIENDS_USING_APP,
    OTHER_APP,
    SLOW_SAM,
)

pytestmark = pytest.mark.usefixtures("facebook_settings")


def test_app_access_token_comes_from_client_credentials(fake_facebook):
    token = facebook.app_access_token()

    assert token.startswith(f"{fake_facebook.app.id}|")
    exchange = [r for r in fake_facebook.requests if r.path.endswith("/oauth/access_token")]
    assert exchange[-1].params["grant_type"] == "client_credentials"


def test_me_reads_profile_with_email_when_granted(facebook_login):
    token = facebook_login(ALICE)

    profile = facebook.me(token)

    assert profile.id == ALICE.id
    assert profile.name == "Alice Martin"
    assert profile.email == "alice@example.test"
    assert profile.picture_url.endswith(f"/pictures/{ALICE.id}.svg")


def test_me_has_no_email_when_the_email_permission_was_not_granted(facebook_login):
    token = facebook_login(ALICE, scope="public_profile")

    profile = facebook.me(token)

    assert profile.id == ALICE.id
    assert profile.email is None


def test_me_has_no_email_for_an_account_without_an_address(facebook_login):
    profile = facebook.me(facebook_login(EMMA))

    assert profile.name == "Emma Leroy"
    assert profile.email is None


def test_user_calls_carry_appsecret_proof_for_an_app_that_requires_it(
    fake_facebook, facebook_login
):
    assert fake_facebook.app.require_appsecret_proof
    token = facebook_login(ALICE)

    facebook.me(token)

    me_request = [r for r in fake_facebook.requests if r.path.endswith("/me")][-1]
    assert len(me_request.params["appsecret_proof"]) == 64


def test_request_url_carries_graph_version_from_settings_beyond_the_sdk_list(
    settings, fake_facebook, facebook_login
):
    # facebook-sdk 3.1.0 only knows versions 2.8 to 3.1 and refuses two-digit majors.
    token = facebook_login(ALICE)
    settings.FACEBOOK_GRAPH_VERSION = "v23.0"
    facebook.me(token)
    settings.FACEBOOK_GRAPH_VERSION = "24.0"  # the "v" may be left out
    facebook.debug_token(token)

    graph_calls = [r for r in fake_facebook.requests if r.path.endswith(("/me", "/debug_token"))]
    assert [(r.version, r.path) for r in graph_calls] == [
        ("v23.0", "/v23.0/me"),
        ("v24.0", "/v24.0/debug_token"),
    ]


def test_token_check_accepts_a_valid_token_of_our_app(fake_facebook, facebook_login):
    token = facebook_login(ALICE)

    info = facebook.token_check(token)

    assert info.is_valid
    assert info.app_id == fake_facebook.app.id
    assert info.user_id == ALICE.id
    assert set(info.scopes) == {"public_profile", "email", "user_friends"}
    assert info.expires_at is not None


def test_token_check_refuses_a_valid_token_issued_to_another_app(facebook_login):
    token = facebook_login(ALICE, app=OTHER_APP)
    info = facebook.debug_token(token)
    assert info.is_valid and info.app_id == OTHER_APP.id  # Facebook says it is fine…

    with pytest.raises(FacebookTokenRefused):  # …but not for us.
        facebook.token_check(token)


def test_token_check_refuses_an_invalid_token():
    with pytest.raises(FacebookTokenRefused):
        facebook.token_check("EAAnot-a-token-facebook-ever-issued")


def test_token_check_refuses_an_expired_token(fake_facebook, facebook_login):
    token = facebook_login(ALICE)
    fake_facebook.token_expire(token)

    with pytest.raises(FacebookTokenRefused):
        facebook.token_check(token)


def test_me_with_an_invalid_token_asks_to_log_in_again():
    with pytest.raises(FacebookTokenRefused) as raised:
        facebook.me("EAAnot-a-token-facebook-ever-issued")

    assert raised.value.graph_code == 190
    assert raised.value.status == 401


def test_wrong_app_secret_is_our_fault_not_the_users(settings, facebook_login):
    token = facebook_login(ALICE)
    settings.FACEBOOK_APP_SECRET = "not-our-secret"

    with pytest.raises(FacebookError) as raised:
        facebook.token_check(token)

    assert type(raised.value) is FacebookError
    assert raised.value.graph_code == 190


def test_friends_paging_returns_every_friend_using_the_app_and_no_one_else(
    fake_facebook, facebook_login
):
    token = facebook_login(ALICE)

    friends = facebook.friends_using_app(token, page_size=2)

    assert sorted(f.id for f in friends) == sorted(u.id for u in FRIENDS_USING_APP)
    assert {f.name for f in friends} == {u.name for u in FRIENDS_USING_APP}
    assert all(f.picture_url for f in friends)
    pages = [r for r in fake_facebook.requests if r.path.endswith("/me/friends")]
    assert len(pages) == 3  # 2 + 2 + 1
    assert "after" not in pages[0].params
    assert pages[1].params["after"] != pages[2].params["after"]


def test_friends_stop_at_the_limit(facebook_login):
    token = facebook_login(ALICE)

    friends = facebook.friends_using_app(token, limit=3, page_size=2)

    assert len(friends) == 3


def test_friends_stop_at_the_page_bound(fake_facebook, facebook_login):
    token = facebook_login(ALICE)

    friends = facebook.friends_using_app(token, page_size=1, max_pages=2)

    assert len(friends) == 2
    assert len([r for r in fake_facebook.requests if r.path.endswith("/me/friends")]) == 2


def test_friends_are_empty_without_the_user_friends_permission(facebook_login):
    token = facebook_login(ALICE, scope="public_profile,email")

    assert facebook.friends_using_app(token) == []


def test_graph_error_becomes_facebook_error_with_its_code_and_type(fake_facebook, facebook_login):
    token = facebook_login(ALICE)
    fake_facebook.graph_error_next(100, "(#100) Invalid parameter", type_="GraphMethodException")

    with pytest.raises(FacebookError) as raised:
        facebook.me(token)

    error = raised.value
    assert type(error) is FacebookError
    assert (error.graph_code, error.graph_type) == (100, "GraphMethodException")
    assert error.graph_message == "(#100) Invalid parameter"
    assert error.fbtrace_id
    assert error.status == 502
    assert "(#100)" not in str(error.message)  # Facebook's wording is for logs only


def test_rate_limit_becomes_unavailable(fake_facebook, facebook_login):
    token = facebook_login(ALICE)
    fake_facebook.graph_error_next(4, "(#4) Application request limit reached")

    with pytest.raises(FacebookUnavailable) as raised:
        facebook.friends_using_app(token)

    assert raised.value.graph_code == 4


def test_an_error_page_instead_of_json_becomes_unavailable(fake_facebook, facebook_login):
    token = facebook_login(ALICE)
    fake_facebook.answer_next(502, "<html>Bad gateway</html>", content_type="text/html")

    with pytest.raises(FacebookUnavailable):
        facebook.me(token)


def test_json_that_does_not_parse_becomes_facebook_error(fake_facebook, facebook_login):
    token = facebook_login(ALICE)
    fake_facebook.answer_next(200, "{not json", content_type="application/json")

    with pytest.raises(FacebookError) as raised:
        facebook.me(token)

    assert type(raised.value) is FacebookError


def test_slow_answer_with_one_second_timeout_becomes_unavailable_quickly(settings, facebook_login):
    token = facebook_login(SLOW_SAM)  # the fake answers 3 s late for Sam's token
    settings.FACEBOOK_TIMEOUT_SECONDS = 1

    started = time.monotonic()
    with pytest.raises(FacebookUnavailable):
        facebook.me(token)
    elapsed = time.monotonic() - started

    assert 0.9 <= elapsed < 2.0


def test_stopped_server_becomes_unavailable(fake_facebook, facebook_login):
    token = facebook_login(ALICE)
    fake_facebook.stop()

    for call in (facebook.me, facebook.token_check, facebook.friends_using_app):
        with pytest.raises(FacebookUnavailable) as raised:
            call(token)
        assert raised.value.status == 503
    with pytest.raises(FacebookUnavailable):
        facebook.app_access_token()


def test_empty_token_is_refused_without_calling_facebook(fake_facebook):
    before = len(fake_facebook.requests)

    for call in (facebook.me, facebook.token_check, facebook.friends_using_app):
        with pytest.raises(FacebookTokenRefused):
            call("")

    assert len(fake_facebook.requests) == before


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FACEBOOK_APP_ID", ""),
        ("FACEBOOK_APP_SECRET", ""),
        ("FACEBOOK_GRAPH_VERSION", "latest"),
        ("FACEBOOK_TIMEOUT_SECONDS", 0),
    ],
)
def test_missing_or_malformed_settings_are_a_configuration_error(settings, name, value):
    setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured):
        facebook.me("EAAsome-token")
