"""``core.websocket_auth``: a socket's session and user come from its session cookie, as
with Channels' own stack, and the frames it sends go to the server unwrapped."""

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from core.websocket_auth import websocket_auth_stack
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_socket_gets_the_user_of_its_session_cookie_and_the_servers_own_send(settings):
    user = factories.user()
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    seen = {}

    async def app(scope, receive, send):
        seen["user_id"] = scope["user"].pk
        seen["session_key"] = scope["session"].session_key
        seen["send"] = send

    async def server_send(message):  # pragma: no cover - the app sends nothing
        raise AssertionError(message)

    async def server_receive():  # pragma: no cover - the app reads nothing
        raise AssertionError("no receive")

    scope = {"type": "websocket", "path": "/ws/", "headers": [(b"cookie", cookie.encode())]}
    async_to_sync(websocket_auth_stack(app))(scope, server_receive, server_send)
    assert seen["user_id"] == user.pk
    assert seen["session_key"] == client.cookies[settings.SESSION_COOKIE_NAME].value
    # No per-frame wrapper between the consumer and the server (Channels' session
    # middleware wraps every send to save the session on HTTP responses).
    assert seen["send"] is server_send


def test_a_socket_without_a_session_cookie_is_anonymous():
    seen = {}

    async def app(scope, receive, send):
        seen["authenticated"] = scope["user"].is_authenticated

    async def noop(*_args):  # pragma: no cover
        return None

    scope = {"type": "websocket", "path": "/ws/", "headers": []}
    async_to_sync(websocket_auth_stack(app))(scope, noop, noop)
    assert seen == {"authenticated": False}
