"""A frozen process must not stall the others (issue 21, "Done when", second case).

Two Daphne processes on one PostgreSQL database and one Redis. The first is frozen
(SIGSTOP) inside a pick's transaction, holding the trip's row lock: its pick locked the
trip, then waited for the traveller's previous hold (held by the test), and went on
once that was let go — it sits "idle in transaction" as long as it is frozen. Through the
second process, picks on the same trip answer ``trip_busy`` within the lock timeout
plus a margin, and a member of another trip keeps getting heartbeat answers in under a
second. Resumed (SIGCONT), the first process finishes its pick and the trip is free again.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): the servers are real processes on
the test database (a transactional test: they see its rows) sharing a Redis channel layer
under a prefix of this run only.
"""

import asyncio
import os
import signal
import time
import uuid

import aiohttp
from django.conf import settings

from booking import plan
from booking.models import Seat, SeatAllocation
from tests import factories
from tests.live_servers import (
    HOST,
    daphne_server,
    needs_servers,
    next_frame,
    server_env,
    session_cookie,
)
from tests.pg import row_locked, sessions, wait_for_lock_waiters

pytestmark = needs_servers

LOCK_TIMEOUT = 1.0  # the second server's DATABASE_LOCK_TIMEOUT_SECONDS
MARGIN = 1.5


def test_a_process_frozen_inside_a_pick_holds_up_its_trip_only_for_the_lock_timeout(tmp_path):
    trip, (olivia, ana, ben), (early, _late) = factories.planned_trip(travellers=3)
    zoe = factories.user("Zoe Elsewhere")
    other_trip = factories.trip(organiser=zoe)
    seats = list(
        Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").order_by(
            "coach__number", "number"
        )[:4]
    )
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=seats[0].pk
    )
    previous = SeatAllocation.objects.get(user=ana, state="held")
    cookies = {user.pk: session_cookie(user) for user in (olivia, ana, ben, zoe)}
    prefix = f"test-freeze-{uuid.uuid4().hex[:12]}"

    def pick(n: int, seat) -> dict:
        return {
            "id": f"pick-{n}",
            "type": "pick_seat",
            "leg": "outbound",
            "departure_id": early.pk,
            "seat_id": seat.pk,
        }

    async def connect(http, port, user, trip_id):
        ws = await http.ws_connect(
            f"ws://{HOST}:{port}/ws/trips/{trip_id}/",
            headers={
                "Origin": f"http://{HOST}:{port}",
                "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookies[user.pk]}",
            },
        )
        await next_frame(ws, "snapshot", timeout=10)
        return ws

    async def answer(ws, request_id: str, timeout: float) -> tuple[dict, float]:
        """The ack or error answering ``request_id``, and how long it took."""
        started = time.perf_counter()
        while True:
            left = started + timeout - time.perf_counter()
            if left <= 0:
                raise AssertionError(f"no answer to {request_id} within {timeout} s")
            frame = await ws.receive_json(timeout=left)
            if frame.get("type") in ("ack", "error") and frame.get("id") == request_id:
                return frame, time.perf_counter() - started

    async def heartbeats(ws, stop: asyncio.Event) -> list[float]:
        """Ping every 100 ms until ``stop``; the time each pong took."""
        took, n = [], 0
        while not stop.is_set():
            n += 1
            sent = time.perf_counter()
            await ws.send_json({"type": "ping", "id": f"hb-{n}"})
            await next_frame(ws, "pong", timeout=5, match=lambda f, n=n: f["id"] == f"hb-{n}")
            took.append(time.perf_counter() - sent)
            await asyncio.sleep(0.1)
        return took

    async def scenario(frozen_process, frozen_port, other_port):
        async with aiohttp.ClientSession() as http:
            ws_ana = await connect(http, frozen_port, ana, trip.pk)
            ws_ben = await connect(http, other_port, ben, trip.pk)
            ws_olivia = await connect(http, other_port, olivia, trip.pk)
            ws_zoe = await connect(http, other_port, zoe, other_trip.pk)
            try:
                # Ana's pick on the first server locks the trip, then waits for her
                # previous hold (the test holds it); frozen there, then let go on.
                with row_locked(previous):
                    await ws_ana.send_json(pick(0, seats[1]))
                    await asyncio.to_thread(wait_for_lock_waiters, 1)
                    os.kill(frozen_process.pid, signal.SIGSTOP)
                await asyncio.sleep(0.3)
                assert await asyncio.to_thread(sessions, "state = 'idle in transaction'") >= 1

                stop = asyncio.Event()
                pulse = asyncio.create_task(heartbeats(ws_zoe, stop))
                await ws_ben.send_json(pick(1, seats[2]))
                await ws_olivia.send_json(pick(2, seats[3]))
                busy = await asyncio.gather(
                    answer(ws_ben, "pick-1", timeout=10), answer(ws_olivia, "pick-2", timeout=10)
                )
                await asyncio.sleep(0.3)
                stop.set()
                pongs = await pulse

                os.kill(frozen_process.pid, signal.SIGCONT)
                resumed, _took = await answer(ws_ana, "pick-0", timeout=10)
                await ws_ben.send_json(pick(3, seats[2]))
                after, _took = await answer(ws_ben, "pick-3", timeout=10)
                return busy, pongs, resumed, after
            finally:
                for ws in (ws_ana, ws_ben, ws_olivia, ws_zoe):
                    await ws.close()

    common = server_env(tmp_path, prefix)
    with (
        # The frozen one would give up on the test's lock before it is frozen otherwise.
        daphne_server({**common, "DATABASE_LOCK_TIMEOUT_SECONDS": "60"}, tmp_path, "frozen") as (
            frozen_process,
            frozen_port,
        ),
        daphne_server(
            {**common, "DATABASE_LOCK_TIMEOUT_SECONDS": str(LOCK_TIMEOUT), "LIVE_DB_THREADS": "4"},
            tmp_path,
            "other",
        ) as (_other_process, other_port),
    ):
        busy, pongs, resumed, after = asyncio.run(scenario(frozen_process, frozen_port, other_port))

    for frame, took in busy:
        assert frame["type"] == "error" and frame["code"] == "trip_busy", frame
        assert took < LOCK_TIMEOUT + MARGIN
    assert len(pongs) >= 5 and max(pongs) < 1.0, pongs
    assert resumed["type"] == "ack", resumed
    assert after["type"] == "ack", after
    held = dict(SeatAllocation.objects.filter(state="held").values_list("user", "seat"))
    assert held == {ana.pk: seats[1].pk, ben.pk: seats[2].pk}
