"""The trip websocket: members only, snapshot and resync, commands through the same
services as the API, broadcasts to the other members, presence, and bad input answered
with an error frame that changes nothing."""

import asyncio
import json
import time
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.test import Client

from booking import consumers, plan
from booking.consumers import (
    CLOSE_ABUSIVE,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    MAX_MESSAGE_BYTES,
)
from booking.models import Seat, SeatAllocation, Trip, TripPresence
from config.routing import websocket_urlpatterns
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)
TIMEOUT = 3


def socket(user, trip_id, query=""):
    path = f"/ws/trips/{trip_id}/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    return communicator


async def receive(communicator, kind):
    """The next frame of ``kind``, skipping presence frames and others."""
    for _ in range(20):
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


def seats_of(departure, comfort="second"):
    return list(
        Seat.objects.filter(coach__vehicle=departure.vehicle, comfort_class=comfort).order_by(
            "coach__number", "number"
        )
    )


@pytest.fixture
def planned():
    return factories.planned_trip(travellers=3)


def test_a_member_gets_a_snapshot_and_sees_another_members_pick(planned):
    trip, (olivia, ana, _ben), (early, _late) = planned
    seat = seats_of(early)[0]

    async def scenario():
        a, o = socket(ana, trip.pk), socket(olivia, trip.pk)
        assert (await a.connect())[0] and (await o.connect())[0]
        snapshot = await receive(o, "snapshot")
        assert snapshot["version"] == trip.version and len(snapshot["members"]) == 3
        await receive(a, "snapshot")
        await a.send_json_to(
            {
                "id": 7,
                "type": "pick_seat",
                "leg": "outbound",
                "departure_id": early.pk,
                "seat_id": seat.pk,
            }
        )
        ack = await receive(a, "ack")
        assert ack == {"type": "ack", "id": 7, "version": trip.version + 1}
        event = await receive(o, "event")
        assert event["kind"] == "seat_held" and event["version"] == trip.version + 1
        assert event["payload"]["holds"][0] == {
            "user_id": ana.pk,
            "seat_id": seat.pk,
            "label": f"2-{seat.number}",
        }
        await a.disconnect()
        await o.disconnect()

    async_to_sync(scenario)()
    assert SeatAllocation.objects.get(state="held").user == ana
    assert not TripPresence.objects.exists()


def test_strangers_and_anonymous_are_closed_with_a_clear_code(planned):
    trip, _people, _deps = planned
    stranger = factories.user()
    from django.contrib.auth.models import AnonymousUser

    async def scenario():
        for user, code in ((stranger, CLOSE_NOT_FOUND), (AnonymousUser(), CLOSE_UNAUTHENTICATED)):
            communicator = socket(user, trip.pk)
            await communicator.connect()
            for _ in range(3):
                frame = await communicator.receive_output(timeout=TIMEOUT)
                if frame["type"] == "websocket.close":
                    assert frame["code"] == code
                    break
            else:
                raise AssertionError("not closed")
        missing = socket(stranger, 999999)
        await missing.connect()
        frame = await missing.receive_json_from(timeout=TIMEOUT)
        assert frame["code"] == "trip_not_found"

    async_to_sync(scenario)()


def test_a_reconnecting_client_gets_the_missed_events_or_a_snapshot(planned):
    trip, (olivia, ana, _ben), (early, _late) = planned
    base = trip.version
    plan.poll_vote(trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk)
    plan.seat_pick(
        trip_id=trip.pk,
        user=ana,
        leg="outbound",
        departure_id=early.pk,
        seat_id=seats_of(early)[0].pk,
    )

    async def scenario():
        behind = socket(olivia, trip.pk, f"version={base}")
        await behind.connect()
        frame = await receive(behind, "resync")
        assert [e["version"] for e in frame["events"]] == [base + 1, base + 2]
        assert [e["kind"] for e in frame["events"]] == ["vote_cast", "seat_held"]
        assert frame["version"] == base + 2
        await behind.disconnect()
        too_far = socket(olivia, trip.pk, "version=9999")
        await too_far.connect()
        assert (await receive(too_far, "snapshot"))["version"] == base + 2
        await too_far.disconnect()

    async_to_sync(scenario)()


def test_bad_input_gets_an_error_frame_and_changes_nothing(planned):
    trip, (_olivia, ana, ben), (early, _late) = planned
    _other, _people, (other_dep, _x) = factories.planned_trip(travellers=1)
    other_seat = seats_of(other_dep)[0]
    taken = seats_of(early)[0]
    plan.seat_pick(
        trip_id=trip.pk, user=ben, leg="outbound", departure_id=early.pk, seat_id=taken.pk
    )
    before = list(SeatAllocation.objects.values_list("pk", "state", "seat_id"))
    version = Trip.objects.get(pk=trip.pk).version

    async def scenario():
        a = socket(ana, trip.pk)
        await a.connect()
        await receive(a, "snapshot")
        bad = [
            ("not json", "malformed"),
            ("[1, 2]", "malformed"),
            (json.dumps({"type": "teleport"}), "unknown_command"),
            (json.dumps({"type": "pick_seat", "leg": "outbound", "seat_id": "x"}), "invalid"),
            (
                json.dumps(
                    {
                        "type": "pick_seat",
                        "leg": "outbound",
                        "seat_id": taken.pk,
                        "departure_id": early.pk,
                    }
                ),
                "seat_taken",
            ),
            # Another trip's train and seats.
            (
                json.dumps(
                    {
                        "type": "pick_seat",
                        "leg": "outbound",
                        "seat_id": other_seat.pk,
                        "departure_id": other_dep.pk,
                    }
                ),
                "departure_not_in_poll",
            ),
            (
                json.dumps({"type": "vote", "departure_id": early.pk, "leg": "sideways"}),
                "invalid",
            ),
            (
                json.dumps({"type": "settle", "leg": "outbound", "departure_id": early.pk}),
                "not_organiser",
            ),
            ("x" * (MAX_MESSAGE_BYTES + 1), "message_too_large"),
        ]
        for text, code in bad:
            await a.send_to(text_data=text)
            frame = await receive(a, "error")
            assert frame["code"] == code, (text[:60], frame)
        # Still connected and working.
        await a.send_json_to({"id": "p", "type": "ping"})
        assert (await receive(a, "pong"))["id"] == "p"
        await a.disconnect()

    async_to_sync(scenario)()
    assert list(SeatAllocation.objects.values_list("pk", "state", "seat_id")) == before
    assert Trip.objects.get(pk=trip.pk).version == version


def test_flooding_is_refused_then_disconnected(planned, monkeypatch):
    trip, (_olivia, ana, _ben), _deps = planned
    monkeypatch.setattr("booking.consumers.ABUSE_STRIKES", 5)

    async def scenario():
        a = socket(ana, trip.pk)
        await a.connect()
        await receive(a, "snapshot")
        for n in range(40):
            if n % 2:
                await a.send_to(bytes_data=b"\x00" * 10)  # refused frames count too
            else:
                await a.send_json_to({"type": "teleport"})
        codes = []
        closed = None
        for _ in range(60):
            frame = await a.receive_output(timeout=TIMEOUT)
            if frame["type"] == "websocket.close":
                closed = frame["code"]
                break
            codes.append(json.loads(frame["text"]).get("code"))
        assert "rate_limited" in codes
        assert closed == CLOSE_ABUSIVE

    async_to_sync(scenario)()


def test_presence_is_broadcast_to_the_others(planned):
    trip, (olivia, ana, _ben), _deps = planned

    async def scenario():
        o = socket(olivia, trip.pk)
        await o.connect()
        await receive(o, "snapshot")
        a = socket(ana, trip.pk)
        await a.connect()
        for _ in range(5):
            frame = await receive(o, "presence")
            if ana.pk in frame["online"]:
                break
        assert sorted(frame["online"]) == sorted([olivia.pk, ana.pk])
        await a.disconnect()
        frame = await receive(o, "presence")
        assert frame["online"] == [olivia.pk]
        await o.disconnect()

    async_to_sync(scenario)()


def test_the_departure_socket_tells_seat_changes_without_personal_data(planned):
    trip, (_olivia, ana, _ben), (early, _late) = planned
    seat = seats_of(early)[1]

    async def scenario():
        viewer = WebsocketCommunicator(router, f"/ws/departures/{early.pk}/")
        assert (await viewer.connect())[0]
        await database_sync_to_async(plan.seat_pick)(
            trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=seat.pk
        )
        frame = await viewer.receive_json_from(timeout=TIMEOUT)
        assert frame == {
            "type": "seats",
            "departure_id": early.pk,
            "seats": [{"seat_id": seat.pk, "status": "held"}],
        }
        await viewer.disconnect()

    async_to_sync(scenario)()


def test_the_real_asgi_app_authenticates_the_socket_by_the_session_cookie(planned, settings):
    from asgi import application

    trip, (olivia, *_), _deps = planned
    client = Client()
    client.force_login(olivia)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def scenario():
        communicator = WebsocketCommunicator(
            application,
            f"/ws/trips/{trip.pk}/",
            headers=[
                (b"cookie", cookie.encode()),
                (b"origin", b"http://localhost"),
                (b"host", b"localhost"),
            ],
        )
        connected, _ = await communicator.connect()
        assert connected
        assert (await receive(communicator, "snapshot"))["me"]["user_id"] == olivia.pk
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_member_who_leaves_hears_it_then_their_socket_closes_and_the_others_stay(planned):
    trip, (olivia, ana, _ben), _deps = planned
    from groups.services import membership_leave

    async def scenario():
        a, o = socket(ana, trip.pk), socket(olivia, trip.pk)
        assert (await a.connect())[0] and (await o.connect())[0]
        await receive(a, "snapshot")
        await receive(o, "snapshot")
        await database_sync_to_async(membership_leave)(group_id=trip.group_id, user=ana)
        for communicator in (a, o):
            event = await receive(communicator, "event")
            assert (event["kind"], event["payload"]["user_id"]) == ("member_left", ana.pk)
        closed = await a.receive_output(timeout=TIMEOUT)
        assert (closed["type"], closed.get("code")) == ("websocket.close", CLOSE_NOT_FOUND)
        await o.send_json_to({"id": "p", "type": "ping"})
        assert (await receive(o, "pong"))["id"] == "p"
        await o.disconnect()

    async_to_sync(scenario)()


@pytest.mark.postgres
@pytest.mark.skipif(
    "pool" not in settings.DATABASES["default"].get("OPTIONS", {}),
    reason="needs PostgreSQL's connection pool (DATABASE_URL)",
)
def test_the_live_plans_threads_give_their_connections_back_to_the_pool(planned):
    """Each database call of a socket runs on one of the live plan's threads; once it is
    done, that thread holds no connection of the pool, even while channels' closing of
    old connections does nothing (as its test communicator makes it while it waits).
    Otherwise each thread keeps a connection checked out until the process ends, and
    twenty of them starved the pool of the tests that race thirty connections."""
    trip, _people, _deps = planned

    async def calls():
        await asyncio.gather(
            *(
                consumers.database_sync_to_async(Trip.objects.filter(pk=trip.pk).exists)()
                for _ in range(8)
            )
        )

    with mock.patch("channels.db.close_old_connections", lambda **kwargs: None):
        async_to_sync(calls)()

    def kept() -> int:  # checked out, but not by this thread
        stats = connection.pool.get_stats()
        return stats["pool_size"] - stats["pool_available"] - (connection.connection is not None)

    deadline = time.monotonic() + 2  # the pool takes a connection back on its own thread
    while kept() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept() == 0, f"{kept()} connection(s) kept by the live plan's threads"
