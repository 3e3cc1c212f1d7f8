"""The trip websocket when things go wrong around it: a socket that closes while a broadcast
is on its way, a path no consumer serves, a person who logs out with the page still open."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client

from booking.consumers import CLOSE_UNAUTHENTICATED
from booking.models import PollVote, Seat, TripPresence
from config.routing import websocket_urlpatterns
from tests import factories
from tests.booking.test_plan_api import receive

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)
TIMEOUT = 3


def socket(app, user, trip_id, **kwargs):
    communicator = WebsocketCommunicator(app, f"/ws/trips/{trip_id}/", **kwargs)
    if user is not None:
        communicator.scope["user"] = user
    return communicator


@pytest.fixture
def planned():
    return factories.planned_trip(travellers=3)


def test_a_socket_closed_during_a_broadcast_is_still_cleaned_up(planned):
    trip, (olivia, ana, _ben), (early, _late) = planned
    seat = Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").first()
    gone = {"olivia": False}

    async def server_of_a_dropped_socket(scope, receive, send):
        """What Daphne does once the client has gone but before it has told the consumer:
        every send raises."""

        async def send_or_fail(message):
            if gone["olivia"]:
                raise Disconnected("Attempt to send on a closed protocol")
            await send(message)

        return await router(scope, receive, send_or_fail)

    async def scenario():
        o = socket(server_of_a_dropped_socket, olivia, trip.pk)
        a = socket(router, ana, trip.pk)
        assert (await o.connect())[0] and (await a.connect())[0]
        await receive(o, "snapshot")
        await receive(a, "snapshot")
        gone["olivia"] = True
        await a.send_json_to(
            {"type": "pick_seat", "leg": "outbound", "departure_id": early.pk, "seat_id": seat.pk}
        )
        await receive(a, "ack")
        await receive(a, "event")
        await asyncio.sleep(0.2)  # the event reaches olivia's consumer, whose send fails
        # Then the server tells it the socket closed: the cleanup runs.
        await o.disconnect(timeout=TIMEOUT)
        frame = await receive(a, "presence")
        assert frame["online"] == [ana.pk]
        await a.disconnect()

    async_to_sync(scenario)()
    assert not TripPresence.objects.exists()


def test_an_unknown_websocket_path_is_refused_without_a_crash():
    async def scenario():
        for path in ("/ws/nowhere/", "/ws/trips/abc/", "/"):
            communicator = WebsocketCommunicator(router, path)
            connected, _code = await communicator.connect(timeout=TIMEOUT)
            assert not connected, path
            await communicator.wait(timeout=TIMEOUT)  # the consumer ended without raising

    async_to_sync(scenario)()


def logged_in_headers(user, settings) -> tuple[Client, list]:
    """A browser logged in as ``user`` and the headers of a socket opened from its page."""
    browser = Client()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    headers = [
        (b"cookie", cookie.encode()),
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
    ]
    return browser, headers


async def refused_as_logged_out(s, request_id) -> None:
    """The frame ``request_id`` is answered ``not_authenticated``, then the socket closed."""
    error = await receive(s, "error")
    assert (error["id"], error["code"]) == (request_id, "not_authenticated")
    closed = await s.receive_output(timeout=TIMEOUT)
    assert (closed["type"], closed.get("code")) == ("websocket.close", CLOSE_UNAUTHENTICATED)


def test_an_open_socket_stops_acting_once_its_person_has_logged_out(planned, settings):
    from asgi import application

    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "LIVE_SESSION_RECHECK_SECONDS": 0}
    trip, (_olivia, ana, _ben), (early, late) = planned
    browser, headers = logged_in_headers(ana, settings)

    async def scenario():
        s = socket(application, None, trip.pk, headers=headers)
        assert (await s.connect())[0]
        await receive(s, "snapshot")
        await s.send_json_to({"id": 1, "type": "vote", "leg": "outbound", "departure_id": early.pk})
        assert (await receive(s, "ack"))["id"] == 1
        await database_sync_to_async(browser.logout)()
        await s.send_json_to({"id": 2, "type": "vote", "leg": "outbound", "departure_id": late.pk})
        await refused_as_logged_out(s, 2)

    async_to_sync(scenario)()
    assert PollVote.objects.get(user=ana).option.departure == early


def test_commands_within_the_recheck_bound_do_not_read_the_session_the_heartbeat_does(
    planned, settings
):
    """The session is read again before a command only once the last check is older than
    ``LIVE_SESSION_RECHECK_SECONDS`` (a read per command doubled a pick's cost), and on
    every heartbeat: a logged-out socket stops at its next ``ping`` at the latest."""
    from asgi import application

    settings.SIDEBYSIDE = {**settings.SIDEBYSIDE, "LIVE_SESSION_RECHECK_SECONDS": 60}
    trip, (_olivia, ana, _ben), (_early, late) = planned
    browser, headers = logged_in_headers(ana, settings)

    async def scenario():
        s = socket(application, None, trip.pk, headers=headers)
        assert (await s.connect())[0]
        await receive(s, "snapshot")
        await database_sync_to_async(browser.logout)()
        # Within the bound: not read again, so the command still acts.
        await s.send_json_to({"id": 1, "type": "vote", "leg": "outbound", "departure_id": late.pk})
        assert (await receive(s, "ack"))["id"] == 1
        await s.send_json_to({"id": 2, "type": "ping"})
        await refused_as_logged_out(s, 2)

    async_to_sync(scenario)()
    assert PollVote.objects.get(user=ana).option.departure == late
