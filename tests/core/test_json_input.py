"""Bad JSON from clients is a refusal, never a 500: too deep (Python decodes nesting by
recursion: RecursionError) or too large, through the REST API and the live plan's socket."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.routing import websocket_urlpatterns
from core.json_input import json_depth_exceeds
from tests import factories

# Deeper than Python's recursion limit, and still under the socket's 4 KiB frame limit.
DEEP = "[" * 2000 + "]" * 2000


@pytest.fixture
def client_of():
    def make(user):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        return client

    return make


@pytest.mark.django_db
def test_a_deeply_nested_body_is_refused_as_invalid(client_of):
    client = client_of(factories.user())
    answer = client.post("/api/trips/", data=DEEP, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"


@pytest.mark.django_db
def test_a_body_over_the_size_limit_is_refused_as_invalid(client_of, settings):
    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "JSON_MAX_BYTES": 1000}
    client = client_of(factories.user())
    body = json.dumps({"name": "x" * 1000})
    answer = client.post("/api/trips/", data=body, content_type="application/json")
    assert answer.status_code == 400
    # Refused whole, before the serializer looks at its fields.
    assert answer.json()["error"]["code"] == "invalid"
    assert "fields" not in answer.json()["error"]


@pytest.mark.django_db
def test_ordinary_bodies_and_their_errors_are_unchanged(client_of):
    client = client_of(factories.user())
    answer = client.post("/api/trips/", data="{not json", content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "parse_error"
    # Valid JSON reaches the serializer, which says what is missing.
    answer = client.post("/api/trips/", data={"members": [[]]}, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"
    assert "fields" in answer.json()["error"]


def test_depth_is_counted_outside_strings_only():
    assert not json_depth_exceeds('{"a": [[1]], "b": "[[[[[[[[[[[["}', 3)
    assert json_depth_exceeds('{"a": [[[1]]], "b": "\\"]]]]"}', 3)
    assert not json_depth_exceeds("[" * 32 + "]" * 32, 32)
    assert json_depth_exceeds("[" * 33 + "]" * 33, 32)


@pytest.mark.django_db
def test_huge_ids_in_api_paths_are_not_found():
    """Ids past a 64-bit integer reach the ORM from the paths' int converters."""
    client = Client(raise_request_exception=False)
    client.force_login(factories.user())
    huge = 2**70
    for path in (f"/api/trips/{huge}/", f"/api/departures/{huge}/", f"/api/trips/{huge}/plan/"):
        assert client.get(path).status_code == 404, path


@pytest.mark.django_db(transaction=True)
def test_a_deeply_nested_websocket_frame_is_an_error_frame_and_the_socket_lives_on():
    trip, (olivia, *_others), _departures = factories.planned_trip(travellers=2)

    async def scenario():
        socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/trips/{trip.pk}/")
        socket.scope["user"] = olivia
        assert (await socket.connect())[0]
        while (await socket.receive_json_from(timeout=3))["type"] != "snapshot":
            pass
        await socket.send_to(text_data=DEEP)
        frame = await socket.receive_json_from(timeout=3)
        while frame["type"] not in ("error", "pong"):
            frame = await socket.receive_json_from(timeout=3)
        assert frame["type"] == "error" and frame["code"] == "malformed"
        await socket.send_json_to({"id": "p", "type": "ping"})
        frame = await socket.receive_json_from(timeout=3)
        while frame["type"] != "pong":
            frame = await socket.receive_json_from(timeout=3)
        await socket.disconnect()

    async_to_sync(scenario)()
