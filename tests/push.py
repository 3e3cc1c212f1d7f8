"""A real Web Push peer for the tests: the local push service (sandboxes/push_server.py)
on a free loopback port, which checks our VAPID signature and decrypts what we send as
a browser vendor's service does. The test plays the browser: ``subscribe`` makes its
keys and endpoint, ``subscribed(user)`` also posts them through our API as push.js does."""

import pytest

from sandboxes.push_server import PushSandbox


@pytest.fixture(scope="session")
def push_server_process():
    with PushSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def push_server(push_server_process, settings):
    """The running service, empty; a fresh VAPID pair in the settings."""
    from core.install_secret import vapid_keys_new

    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = vapid_keys_new()
    settings.VAPID_SUBJECT = "mailto:push-tests@sidebyside.example"
    settings.WEB_PUSH_ALLOW_LOOPBACK = True  # the local push service is on http://127.0.0.1
    push_server_process.clear()
    return push_server_process


def browser_subscribe(push_server, user):
    """``user`` turns notifications on in a new browser: stored as the API would."""
    from django.conf import settings

    from notices.services import push_subscribe

    browser = push_server.subscribe(settings.VAPID_PUBLIC_KEY)
    data = browser.to_json()
    push_subscribe(
        user_id=user.pk,
        endpoint=data["endpoint"],
        p256dh=data["keys"]["p256dh"],
        auth=data["keys"]["auth"],
    )
    return browser
