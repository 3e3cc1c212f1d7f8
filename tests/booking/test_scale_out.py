"""Scale-out: two Daphne processes on one PostgreSQL database and one Redis share the live
plan. A member connected to the first server sees, within a second, a seat picked by a
friend through the second.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): both servers are real processes on
the test database, so the test is transactional (its rows are committed, the servers see
them) and the channel layer is Redis under a prefix of this run only.
"""

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from booking.models import Seat, SeatAllocation
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="needs PostgreSQL (DATABASE_URL): the servers are separate processes and "
        "must share the test database",
    ),
    pytest.mark.skipif(
        not REDIS_URL, reason="needs Redis (REDIS_URL): the channel layer the servers share"
    ),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's ``test_<name>``)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


test_database_url.__test__ = False  # a helper, not a test


def server_env(tmp_path: Path, prefix: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SIDEBYSIDE_VAR_DIR")
    }
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=REDIS_URL,
        # This run's keys only, whoever else uses the same Redis.
        CHANNELS_PREFIX=prefix,
        CACHE_PREFIX=prefix,
        DJANGO_DEBUG="1",
        DJANGO_ALLOWED_HOSTS=f"{HOST},localhost",
        SIDEBYSIDE_VAR_DIR=str(tmp_path),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def daphne_servers(count: int, env: dict[str, str], tmp_path: Path):
    """``count`` Daphne processes serving ``asgi:application``; yields their ports once
    each answers /healthz, and always stops them."""
    processes, ports = [], []
    command = [sys.executable, "-m", "daphne", "-b", HOST, "-p"]
    try:
        for n in range(count):
            port = free_port()
            log = open(tmp_path / f"daphne-{n}.log", "wb")  # noqa: SIM115 - closed below
            processes.append(
                (
                    subprocess.Popen(
                        [*command, str(port), "asgi:application"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
            ports.append(port)
        for (process, _log), port in zip(processes, ports, strict=True):
            wait_healthy(process, port)
        yield ports
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            log.close()


def wait_healthy(process: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Daphne on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"Daphne on port {port} not healthy after {timeout:.0f} s")


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def next_frame(ws, kind: str, *, timeout: float, match=lambda frame: True) -> dict:
    """The next frame of ``kind`` that ``match``es, skipping presence and the rest."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"no {kind} frame within {timeout} s")
        frame = await ws.receive_json(timeout=left)
        if frame.get("type") == kind and match(frame):
            return frame


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
        ack, event, seconds = asyncio.run(scenario(first, second))

    assert ack["version"] == trip.version + 1
    assert event["version"] == trip.version + 1
    assert event["payload"]["holds"] == [
        {"user_id": ben.pk, "seat_id": seat.pk, "label": f"2-{seat.number}"}
    ]
    assert seconds < 1.0
    assert SeatAllocation.objects.get(state="held").user == ben
