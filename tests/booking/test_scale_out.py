"""Scale-out: two Daphne processes on one PostgreSQL database and one Redis share the live
plan. A member connected to the first server sees, within a second, a seat picked by a
friend through the second.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): both servers are real processes on
the test database, so the test is transactional (its rows are committed, the servers see
them) and the channel layer is Redis under a prefix of this run only.
"""

import asyncio
import time
import uuid

import aiohttp
from django.conf import settings

from booking.models import Seat, SeatAllocation
from tests import factories
from tests.live_servers import (
    HOST,
    NEEDS_SERVERS,
    daphne_servers,
    next_frame,
    server_env,
    session_cookie,
)

pytestmark = NEEDS_SERVERS


def test_a_member_on_one_server_sees_a_pick_made_through_the_other(tmp_path):
    trip, (ana, ben), (early, _late) = factories.planned_trip(travellers=2)
    seat = Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").first()
    cookies = {user.pk: session_cookie(user) for user in (ana, ben)}
    prefix = f"test-scale-out-{uuid.uuid4().hex[:12]}"

    async def connect(http, port, user):
        ws = await http.ws_connect(
            f"ws://{HOST}:{port}/ws/trips/{trip.pk}/",
            headers={
                "Origin": f"http://{HOST}:{port}",
                "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookies[user.pk]}",
            },
        )
        snapshot = await next_frame(ws, "snapshot", timeout=10)
        assert snapshot["version"] == trip.version
        return ws

    async def scenario(first, second):
        async with aiohttp.ClientSession() as http:
            ws_a = await connect(http, first, ana)
            ws_b = await connect(http, second, ben)
            try:
                sent = time.perf_counter()
                await ws_b.send_json(
                    {
                        "id": "b1",
                        "type": "pick_seat",
                        "leg": "outbound",
                        "departure_id": early.pk,
                        "seat_id": seat.pk,
                    }
                )
                ack = await next_frame(ws_b, "ack", timeout=10)
                event = await next_frame(
                    ws_a, "event", timeout=1.0, match=lambda f: f["kind"] == "seat_held"
                )
                seconds = time.perf_counter() - sent
                # Idle for longer than the channel layer's 5 s blocking read from Redis: the
                # socket stays open (it was closed with 1011 when the Redis client's read
                # timeout was the same 5 s).
                await asyncio.sleep(6)
                await ws_a.send_json({"type": "ping", "id": "still-there"})
                pong = await next_frame(ws_a, "pong", timeout=5)
                assert pong["id"] == "still-there"
                return ack, event, seconds
            finally:
                await ws_a.close()
                await ws_b.close()

    with daphne_servers(2, server_env(tmp_path, prefix), tmp_path) as (first, second):
        ack, event, seconds = asyncio.run(scenario(first.port, second.port))

    assert ack["version"] == trip.version + 1
    assert event["version"] == trip.version + 1
    assert event["payload"]["holds"] == [
        {"user_id": ben.pk, "seat_id": seat.pk, "label": f"2-{seat.number}"}
    ]
    assert seconds < 1.0
    assert SeatAllocation.objects.get(state="held").user == ben
