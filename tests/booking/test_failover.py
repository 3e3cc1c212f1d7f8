"""Failover of the live plan: two Daphne processes share one trip; one is killed (SIGKILL)
during a burst of seat picks and its members reconnect to the other. Nothing is lost or
doubled, and every member ends on the database's version having applied every version
once, in order.

The clients follow docs/live-protocol.md as the trip page does: apply an event when it is
the next version, hold one that comes early for a while, and on a gap that does not fill
(or a heartbeat's answer ahead of them) reconnect with ``?version=`` to get the missed
events. Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), as tests/live_servers.py.
"""

import asyncio
import concurrent.futures
import contextlib
import os
import random
import signal
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import aiohttp
import pytest
from django.conf import settings
from django.db.models import Count

from booking import plan
from booking.models import Seat, SeatAllocation, Trip, TripEvent
from booking.selectors import live_allocation_q
from tests import factories
from tests.live_servers import HOST, daphne_server, needs_servers, server_env, session_cookie

pytestmark = [
    *needs_servers,
    pytest.mark.timeout(120),
]

MEMBERS = 8
PICKS_EACH = 12
GAP_WAIT = 1.5  # seconds an early event waits for the missing one, as the page's
ANSWER_TIMEOUT = 10


class Server(NamedTuple):
    process: subprocess.Popen
    port: int


@dataclass
class Member:
    """One member's client: its socket, the versions it applied, its picks' answers."""

    user: object
    cookie: str
    port: int
    trip_id: int
    first_port: int = 0  # the server it first connected to
    ws: aiohttp.ClientWebSocketResponse | None = None
    reader: asyncio.Task | None = None
    version: int = 0
    start: int = 0  # the version of the first snapshot
    applied: list[int] = field(default_factory=list)
    received: list[list[int]] = field(default_factory=list)  # event versions, per connection
    early: dict[int, dict] = field(default_factory=dict)
    known: int = 0  # the highest version heard of (an early event, a pong)
    answers: dict[str, asyncio.Future] = field(default_factory=dict)
    acked: list[tuple[int, int]] = field(default_factory=list)  # (version, seat id)
    errors: list[str] = field(default_factory=list)
    uncertain: bool = False  # the last pick's outcome is unknown (its server died)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self, http, *, first: bool = False):
        query = "" if first else f"?version={self.version}"
        if first:
            self.first_port = self.port
        self.connected.clear()
        self.ws = await http.ws_connect(
            f"ws://{HOST}:{self.port}/ws/trips/{self.trip_id}/{query}",
            headers={
                "Origin": f"http://{HOST}:{self.port}",
                "Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}",
            },
        )
        self.received.append([])
        self.reader = asyncio.create_task(self.read(self.ws))
        await asyncio.wait_for(self.connected.wait(), ANSWER_TIMEOUT)

    async def read(self, ws):
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            self.on_frame(message.json())
        # Closed (the server died): whoever waits for an answer on it hears of it.
        for future in self.answers.values():
            if not future.done():
                future.set_exception(ConnectionError("socket closed"))

    def on_frame(self, frame: dict):
        kind = frame["type"]
        if kind == "snapshot":
            self.version = self.known = frame["version"]
            self.start = frame["version"]
            self.connected.set()
        elif kind == "resync":
            for event in frame["events"]:
                self.on_event(event)
            self.connected.set()
        elif kind == "event":
            self.on_event(frame)
        elif kind in ("ack", "error", "pong") and frame.get("id") in self.answers:
            self.answers.pop(frame["id"]).set_result(frame)

    def on_event(self, event: dict):
        self.received[-1].append(event["version"])
        self.known = max(self.known, event["version"])
        if event["version"] <= self.version:
            return
        self.early[event["version"]] = event
        while self.version + 1 in self.early:
            self.early.pop(self.version + 1)
            self.version += 1
            self.applied.append(self.version)
        for version in [v for v in self.early if v <= self.version]:
            del self.early[version]

    async def ask(self, command: dict) -> dict:
        if self.ws.closed:
            raise ConnectionError("socket closed")
        request_id = uuid.uuid4().hex[:8]
        future = asyncio.get_running_loop().create_future()
        self.answers[request_id] = future
        await self.ws.send_json({**command, "id": request_id})
        return await asyncio.wait_for(future, ANSWER_TIMEOUT)

    async def catch_up(self, http):
        """A gap that did not fill, or a heartbeat ahead of us: reconnect with ?version=."""
        await self.close()
        await self.connect(http)

    async def close(self):
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader:
            with contextlib.suppress(Exception):
                await self.reader


def test_killing_one_server_during_a_burst_of_picks_loses_and_doubles_nothing(tmp_path):
    trip, people, (early, _late) = factories.planned_trip(travellers=MEMBERS)
    plan.poll_settle(trip_id=trip.pk, by=people[0], leg="outbound", departure_id=early.pk)
    seat_ids = list(
        Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second")
        .order_by("pk")
        .values_list("pk", flat=True)[: MEMBERS + 4]
    )
    prefix = f"test-failover-{uuid.uuid4().hex[:12]}"
    cookies = {user.pk: session_cookie(user) for user in people}
    rng = random.Random(21)

    async def burst(member: Member, http, picks: int, survivor: int, killed: asyncio.Event):
        for _ in range(picks):
            seat_id = rng.choice(seat_ids)
            try:
                answer = await member.ask(
                    {"type": "pick_seat", "leg": "outbound", "seat_id": seat_id}
                )
            except (ConnectionError, TimeoutError, aiohttp.ClientError):
                # Its server died: the pick may or may not have committed. Over to the other.
                member.uncertain = True
                await killed.wait()
                member.port = survivor
                await member.catch_up(http)
                continue
            if answer["type"] == "ack":
                member.acked.append((answer["version"], seat_id))
                member.uncertain = False
            else:
                member.errors.append(answer["code"])
            await asyncio.sleep(rng.uniform(0.02, 0.1))

    async def settle(member: Member, http):
        """Heartbeats until the member is at the server's version (catching up if not)."""
        for _ in range(10):
            pong = await member.ask({"type": "ping"})
            if pong["version"] == member.version and not member.early:
                return
            await asyncio.sleep(GAP_WAIT)
            if member.version < pong["version"]:
                await member.catch_up(http)
        raise AssertionError(f"member {member.user.pk} stuck at {member.version}")

    async def scenario(doomed, survivor):
        killed = asyncio.Event()
        async with aiohttp.ClientSession() as http:
            members = [
                Member(user=user, cookie=cookies[user.pk], port=port, trip_id=trip.pk)
                for user, port in zip(
                    people, [doomed.port, survivor.port] * (MEMBERS // 2), strict=True
                )
            ]
            for member in members:
                await member.connect(http, first=True)
            bursts = [
                asyncio.create_task(burst(m, http, PICKS_EACH, survivor.port, killed))
                for m in members
            ]
            # Kill one server mid-burst, once a few picks went through.
            while sum(len(m.acked) for m in members) < MEMBERS:
                await asyncio.sleep(0.02)
            os.kill(doomed.process.pid, signal.SIGKILL)
            doomed.process.wait(timeout=10)
            killed.set()
            await asyncio.wait_for(asyncio.gather(*bursts), 45)
            for member in members:
                await settle(member, http)
            for member in members:
                await member.close()
            return members

    # The clients run in a thread of their own: an earlier browser test may leave an event
    # loop running in this one.
    with (
        daphne_server(server_env(tmp_path, prefix), tmp_path, "doomed") as first,
        daphne_server(server_env(tmp_path, prefix), tmp_path, "survivor") as second,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        doomed, survivor = Server(*first), Server(*second)
        members = pool.submit(asyncio.run, scenario(doomed, survivor)).result(timeout=90)

    final = Trip.objects.get(pk=trip.pk).version
    for member in members:
        # On the database's version, every version applied once and in order.
        assert member.version == final
        assert member.applied == list(range(member.start + 1, final + 1))
        # No connection was sent an event twice (its first frame's included).
        for versions in member.received:
            assert len(versions) == len(set(versions))
        assert set(member.errors) <= {"seat_taken", "trip_busy"}
    # The killed server's members went over to the survivor (a new connection each). The
    # survivor's own members may have reconnected too: a pick the killed server committed
    # but never broadcast is a gap they catch up on with ?version=, as the page does.
    doomed_members = [m for m in members if m.first_port == doomed.port]
    assert len(doomed_members) == MEMBERS // 2
    for member in doomed_members:
        assert member.port == survivor.port
        assert len(member.received) > 1
    assert all(m.port == survivor.port for m in members)

    live = SeatAllocation.objects.filter(live_allocation_q(), departure=early)
    assert not live.values("seat").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert not live.values("leg", "user").annotate(n=Count("pk")).filter(n__gt=1).exists()
    # Every acknowledged pick is in the log as that member's hold of that seat, and a
    # member whose last pick was acknowledged holds that seat now.
    events = {e.version: e for e in TripEvent.objects.filter(trip=trip, kind="seat_held")}
    acked = Counter()
    for member in members:
        for version, seat_id in member.acked:
            holds = {(h["user_id"], h["seat_id"]) for h in events[version].payload["holds"]}
            assert (member.user.pk, seat_id) in holds
            acked[member.user.pk] += 1
        if member.acked and not member.uncertain:
            assert live.get(user=member.user).seat_id == member.acked[-1][1]
    assert sum(acked.values()) >= MEMBERS
