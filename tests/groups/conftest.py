"""The fake Facebook, started per test on a free loopback port, and the settings pointing
at it. ``facebook_login`` walks the login flow over HTTP as the login library will: the
dialog, a test user's link, the redirect with ``code`` and ``state``, the code exchange."""

import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from sandboxes.facebook_server import FakeApp, FakeFacebook, FakeUser

GRAPH_VERSION = "v23.0"
REDIRECT_URI = "http://testserver/accounts/facebook/login/callback/"

ALICE = FakeUser("10001", "Alice Martin", "alice@example.test")
EMMA = FakeUser("10005", "Emma Leroy")  # signed up with a phone number: no e-mail address
SLOW_SAM = FakeUser("10009", "Sam Lent", "sam@example.test", delay_seconds=3)
# Alice's friends: the first five use the app, the last two do not.
FRIENDS_USING_APP = [FakeUser(f"2000{n}", f"Friend Using{n}") for n in range(1, 6)]
FRIENDS_NOT_USING_APP = [FakeUser(f"2000{n}", f"Friend Away{n}") for n in range(6, 8)]
# Uses the app but is nobody's friend here.
STRANGER = FakeUser("30001", "Stranger Danger", "stranger@example.test")
OTHER_APP = FakeApp("200000000000002", "the-other-apps-secret", name="Someone else's app")


@pytest.fixture
def fake_facebook():
    friends = FRIENDS_USING_APP + FRIENDS_NOT_USING_APP
    fake = FakeFacebook(
        apps=[OTHER_APP],
        users=[ALICE, EMMA, SLOW_SAM, *friends, STRANGER],
        friendships=[(ALICE.id, friend.id) for friend in friends] + [(EMMA.id, ALICE.id)],
        users_using_app=[user.id for user in [*FRIENDS_USING_APP, STRANGER]],
        require_appsecret_proof=True,
    ).start()
    yield fake
    fake.stop()
    assert fake.errors == [], "the fake Facebook itself failed"


@pytest.fixture
def facebook_settings(settings, fake_facebook):
    settings.FACEBOOK_APP_ID = fake_facebook.app.id
    settings.FACEBOOK_APP_SECRET = fake_facebook.app.secret
    settings.FACEBOOK_GRAPH_VERSION = GRAPH_VERSION
    settings.FACEBOOK_GRAPH_URL = fake_facebook.url
    settings.FACEBOOK_DIALOG_URL = fake_facebook.url
    settings.FACEBOOK_TIMEOUT_SECONDS = 5
    return settings


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.by_user: dict[str, str] = {}
        self.cancel: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag != "a":
            return
        if "data-user-id" in attrs:
            self.by_user[attrs["data-user-id"]] = attrs["href"]
        elif attrs.get("class") == "cancel":
            self.cancel = attrs["href"]


def dialog_open(settings, *, client_id: str, scope: str, state: str) -> tuple[str, _Links]:
    url = f"{settings.FACEBOOK_DIALOG_URL}/{settings.FACEBOOK_GRAPH_VERSION}/dialog/oauth"
    params = {"client_id": client_id, "redirect_uri": REDIRECT_URI, "state": state}
    page = requests.get(url, params=params | {"scope": scope}, timeout=5)
    assert page.status_code == 200, page.text
    links = _Links()
    links.feed(page.text)
    return page.url, links


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def code_exchange(settings, *, client_id: str, client_secret: str, code: str):
    return requests.get(
        f"{settings.FACEBOOK_GRAPH_URL}/{settings.FACEBOOK_GRAPH_VERSION}/oauth/access_token",
        params={
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": REDIRECT_URI,
            "code": code,
        },
        timeout=5,
    )


@pytest.fixture
def facebook_login(facebook_settings):
    """Log a test user in through the fake's dialog; returns their user access token."""

    def login(
        user: FakeUser,
        *,
        scope: str = "public_profile,email,user_friends",
        app: FakeApp | None = None,
    ) -> str:
        client_id = app.id if app else facebook_settings.FACEBOOK_APP_ID
        client_secret = app.secret if app else facebook_settings.FACEBOOK_APP_SECRET
        state = secrets.token_urlsafe(16)
        page_url, links = dialog_open(
            facebook_settings, client_id=client_id, scope=scope, state=state
        )
        chosen = requests.get(
            urljoin(page_url, links.by_user[user.id]), allow_redirects=False, timeout=5
        )
        answer = redirect_params(chosen)
        assert answer["state"] == state
        exchange = code_exchange(
            facebook_settings, client_id=client_id, client_secret=client_secret, code=answer["code"]
        )
        assert exchange.status_code == 200, exchange.text
        return exchange.json()["access_token"]

    return login


@pytest.fixture
def fresh_rate_limits(settings):
    """allauth counts rate limits in the cache, which outlives a test (and, with Redis, a
    run): each test gets its own key prefix, so earlier requests count for nothing, and
    nothing is flushed that other processes may be using."""
    default = settings.CACHES["default"]
    settings.CACHES = settings.CACHES | {
        "default": default | {"KEY_PREFIX": f"test-{secrets.token_hex(8)}"}
    }
