"""Shared machinery of the live benchmarks (``seat_contention.py``, ``live_fanout.py``):
a fresh PostgreSQL database with the demo catalog, trips with their members and login
sessions made beforehand, one or more Daphne processes serving ``bench.asgi_live``, and
websocket clients (aiohttp, pinned in requirements-dev.txt).

The data is made by this module run as a script in the servers' environment
(``python bench/live_common.py populate ...``, printing one JSON document): users,
profiles, memberships and sessions in bulk (set-up, not what is measured); each trip
through ``trip_create``, ``poll_propose`` and ``poll_settle``, as the app makes them, so
its leg is settled on a known departure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

ASGI_APP = "bench.asgi_live:application"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def urls() -> tuple[str, str]:
    """PostgreSQL (``BENCH_DATABASE_URL``, default .../bench_sbs: dropped and created again)
    and Redis (``REDIS_URL``, default the local one)."""
    return (
        os.environ.get("BENCH_DATABASE_URL") or harness.DEFAULT_POSTGRES_URL,
        os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL,
    )


@dataclass
class Cluster:
    servers: list[harness.Server]
    env: dict[str, str]
    var_dir: Path
    data: dict
    setup_seconds: float


@contextlib.contextmanager
def cluster(
    *,
    servers: int,
    demo_days: int,
    populate_args: list[str],
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """Fresh database, demo catalog, the benchmark's trips; ``servers`` Daphne processes on
    it sharing Redis; all stopped on the way out."""
    started = time.monotonic()
    database_url, redis_url = urls()
    var_dir = Path(tempfile.mkdtemp(prefix="sbs-bench-live-"))
    running: list[harness.Server] = []
    try:
        harness.recreate_postgres_database(database_url)
        # Production settings (DEBUG off): what a real deployment runs.
        env = harness.server_env(
            var_dir=var_dir,
            database_url=database_url,
            redis_url=redis_url,
            debug=False,
            extra=extra_env,
        )
        harness.manage(env, "migrate", "--noinput", "-v", "0")
        harness.manage(env, "load_demo", "--days", str(demo_days), timeout=600)
        t0 = time.monotonic()
        proc = subprocess.run(
            [harness.PYTHON, str(Path(__file__)), "populate", *populate_args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode:
            raise RuntimeError(f"populate failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        harness.log(
            f"populate: {len(data['trips'])} trips, "
            f"{sum(len(t['members']) for t in data['trips'])} members: "
            f"{time.monotonic() - t0:.1f} s"
        )
        for n in range(servers):
            running.append(start_server(env, var_dir / f"server-{n}"))
        setup = time.monotonic() - started
        harness.log(
            f"{servers} Daphne process(es) up at "
            f"{', '.join(s.base_url for s in running)} after {setup:.1f} s"
        )
        yield Cluster(running, env, var_dir, data, setup)
    finally:
        for server in running:
            server.stop()
        if running:
            harness.log("servers stopped")
        for n, server in enumerate(running):
            # The server's log, when it said something worth reading (errors, tracebacks).
            text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
            lines = [
                line
                for line in text.splitlines()
                if not line.lstrip().startswith(("127.0.0.1", "File ", "^"))
                and ("Error" in line or "ERROR" in line or "Traceback" in line)
            ]
            if lines:
                shown = "\n".join(lines[:20])
                harness.log(f"server {n} logged {len(lines)} error lines; the first:\n{shown}")
        shutil.rmtree(var_dir, ignore_errors=True)


def start_server(env: dict[str, str], log_dir: Path) -> harness.Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    port = harness.free_port()
    log_path = log_dir / "daphne.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [harness.PYTHON, "-m", "daphne", "-b", harness.HOST, "-p", str(port), ASGI_APP],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = harness.Server(harness.HOST, port, process, env, "postgresql", log_path, log_dir)
    try:
        harness.wait_healthy(server)
    except BaseException:
        server.stop()
        raise
    return server


# --- Websocket clients -----------------------------------------------------------------------


def client_session():
    import aiohttp

    # limit=0: a websocket keeps its connection slot for its whole life.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False))


async def ws_connect(http, server: harness.Server, path: str, cookie: str | None, cookie_name):
    headers = {"Origin": server.base_url}
    if cookie:
        headers["Cookie"] = f"{cookie_name}={cookie}"
    return await http.ws_connect(
        f"ws://{server.host}:{server.port}{path}",
        headers=headers,
        heartbeat=None,
        max_msg_size=0,
        compress=0,
    )


async def gather_limited(coros, limit: int):
    """``asyncio.gather`` with at most ``limit`` running at once (connection storms)."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coro):
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


def loads(data):
    return json.loads(data)


# --- Set-up inside Django (run as a script in the servers' environment) ----------------------


def populate(args: argparse.Namespace) -> dict:
    import datetime as dt
    import zoneinfo

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string
    from django.utils.module_loading import import_string

    from booking import plan
    from booking.models import LIVE_STATES, Departure, Seat, SeatAllocation
    from booking.services import trip_create
    from groups.models import Membership, Profile

    paris = zoneinfo.ZoneInfo("Europe/Paris")
    now = timezone.now()
    first_day = now.astimezone(paris).date() + dt.timedelta(days=1)
    departures = list(
        Departure.objects.filter(
            origin__code="FRPLY",
            destination__code="FRLPD",
            status=Departure.Status.SCHEDULED,
            departs_at__gte=dt.datetime.combine(first_day, dt.time(0), tzinfo=paris),
        ).order_by("departs_at")
    )
    if len(departures) < 2:
        raise SystemExit("the demo catalog has fewer than two Paris - Lyon departures ahead")
    last_day = max(d.departs_at.astimezone(paris).date() for d in departures)

    def free_second_class(departure) -> list[int]:
        taken = SeatAllocation.objects.filter(departure=departure, state__in=LIVE_STATES).values(
            "seat_id"
        )
        return list(
            Seat.objects.filter(coach__vehicle_id=departure.vehicle_id, comfort_class="second")
            .exclude(pk__in=taken)
            .order_by("coach__number", "number")
            .values_list("pk", flat=True)
        )

    # Seats: one shared pool on one departure, or a pool of its own for each trip.
    plans: list[tuple[Departure, list[int]]] = []
    if args.shared_seats:
        for departure in departures:
            free = free_second_class(departure)
            if len(free) >= args.shared_seats:
                pool = free[: args.shared_seats]
                plans = [(departure, pool)] * args.trips
                break
        else:
            raise SystemExit(f"no departure with {args.shared_seats} free second-class seats")
    else:
        for departure in departures:
            free = free_second_class(departure)
            while len(free) >= args.seats_per_trip and len(plans) < args.trips:
                plans.append((departure, free[: args.seats_per_trip]))
                free = free[args.seats_per_trip :]
        if len(plans) < args.trips:
            raise SystemExit(
                f"only {len(plans)} pools of {args.seats_per_trip} seats in the demo catalog "
                "ahead: run load_demo with more days (--days) or fewer trips"
            )

    User = get_user_model()
    count = args.trips * args.members
    password = make_password(None)
    users = User.objects.bulk_create(
        [
            User(username=f"bench{n}", email=f"bench{n}@example.test", password=password)
            for n in range(count)
        ],
        batch_size=1000,
    )
    Profile.objects.bulk_create(
        [Profile(user=u, display_name=f"Bench traveller {n}") for n, u in enumerate(users)],
        batch_size=1000,
    )
    # The backend a login records: the first that can load a user (django-axes's, first
    # in the list, only guards password checks).
    backend = next(
        path
        for path in settings.AUTHENTICATION_BACKENDS
        if hasattr(import_string(path), "get_user")
    )
    store = SessionStore()
    expire = now + dt.timedelta(days=1)
    sessions = {}
    rows = []
    for u in users:
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        sessions[u.pk] = key
        data = {
            SESSION_KEY: str(u.pk),
            BACKEND_SESSION_KEY: backend,
            HASH_SESSION_KEY: u.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
    Session.objects.bulk_create(rows, batch_size=1000)

    trips = []
    for index, (departure, pool) in enumerate(plans):
        people = users[index * args.members : (index + 1) * args.members]
        organiser = people[0]
        trip = trip_create(
            organiser=organiser,
            origin_code="FRPLY",
            destination_code="FRLPD",
            outbound_from=first_day,
            outbound_to=last_day,
            title=f"Bench trip {index}",
            max_members=max(args.members, 2),
        )
        Membership.objects.bulk_create(
            [
                Membership(
                    group_id=trip.group_id,
                    user=u,
                    role=Membership.Role.MEMBER,
                    status=Membership.Status.ACTIVE,
                )
                for u in people[1:]
            ]
        )
        other = next(d for d in departures if d.pk != departure.pk)
        plan.poll_propose(
            trip_id=trip.pk, by=organiser, leg="outbound", departure_ids=[departure.pk, other.pk]
        )
        event = plan.poll_settle(
            trip_id=trip.pk, by=organiser, leg="outbound", departure_id=departure.pk
        )
        trips.append(
            {
                "trip_id": trip.pk,
                "version": event.version,
                "departure_id": departure.pk,
                "seats": pool,
                "members": [{"user_id": u.pk, "session": sessions[u.pk]} for u in people],
            }
        )
    return {"cookie_name": settings.SESSION_COOKIE_NAME, "trips": trips}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="set-up of the live benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("populate")
    p.add_argument("--trips", type=int, required=True)
    p.add_argument("--members", type=int, required=True)
    p.add_argument("--seats-per-trip", type=int, default=0)
    p.add_argument("--shared-seats", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(populate(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
