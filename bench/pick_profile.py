"""What one seat pick costs in process: wall time, CPU time and queries per
``booking.plan.seat_pick`` (with its broadcasts after commit), on PostgreSQL + Redis, no
websocket. A tool for working on ``live_fanout.py``'s figures, not a target of its own.

    .venv/bin/python bench/pick_profile.py              # set up, then 2,000 picks
    .venv/bin/python bench/pick_profile.py --reuse      # the database set up last time
    .venv/bin/python bench/pick_profile.py --profile    # and the top of a cProfile

Set-up as ``live_fanout.py`` (a fresh ``bench_pick`` database, the demo catalog, trips of
8 members settled on a departure with a pool of free seats each); each pick is a random
member of a random trip taking a seat of the trip's pool that nobody of the trip holds.
Ends with one JSON line.
"""

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--picks", type=int, default=2000)
    parser.add_argument("--trips", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="skip the set-up")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top 30")
    return parser.parse_args(argv)


def setup(database_url: str, redis_url: str, trips: int) -> None:
    import subprocess
    import tempfile

    harness.recreate_postgres_database(database_url)
    env = harness.server_env(
        var_dir=Path(tempfile.mkdtemp(prefix="sbs-bench-pick-")),
        database_url=database_url,
        redis_url=redis_url,
        debug=False,
    )
    harness.manage(env, "migrate", "--noinput", "-v", "0")
    harness.manage(env, "load_demo", "--days", "3", timeout=600)
    subprocess.run(
        [
            harness.PYTHON,
            str(ROOT / "bench" / "live_common.py"),
            "populate",
            "--trips",
            str(trips),
            "--members",
            "8",
            "--seats-per-trip",
            "10",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    database_url = os.environ.get("BENCH_DATABASE_URL", base.rsplit("/", 1)[0] + "/bench_pick")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not args.reuse:
        t0 = time.monotonic()
        setup(database_url, redis_url, args.trips)
        harness.log(f"set-up {time.monotonic() - t0:.1f} s")
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 50)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from booking import plan
    from booking.models import SeatAllocation, Trip, TripLeg

    User = get_user_model()
    rng = random.Random(1)
    legs = {
        leg.trip_id: leg
        for leg in TripLeg.objects.filter(direction="outbound", departure__isnull=False)
    }
    trips = []
    for trip in Trip.objects.filter(pk__in=list(legs)).order_by("pk"):
        members = list(User.objects.filter(memberships__group_id=trip.group_id))
        trips.append({"trip": trip, "members": members, "leg": legs[trip.pk]})
    # Each trip's pool: ten free second-class seats of its departure, as live_fanout's
    # (the holds of an earlier run on this database let go first).
    SeatAllocation.objects.filter(state="held").update(state="released")
    from booking.models import LIVE_STATES, Seat

    taken_by_departure: dict[int, set[int]] = {}
    for t in trips:
        departure = t["leg"].departure
        taken = taken_by_departure.setdefault(
            departure.pk,
            set(
                SeatAllocation.objects.filter(
                    departure=departure, state__in=LIVE_STATES
                ).values_list("seat_id", flat=True)
            ),
        )
        free = [
            pk
            for pk in Seat.objects.filter(
                coach__vehicle_id=departure.vehicle_id, comfort_class="second"
            )
            .order_by("coach__number", "number")
            .values_list("pk", flat=True)
            if pk not in taken
        ][:10]
        taken.update(free)
        t["pool"] = free

    # As in the consumer: the pick runs on a worker thread of asgiref's pool while an event
    # loop runs, so its broadcasts after commit go through that loop (and its Redis pool).
    import asyncio

    from asgiref.sync import sync_to_async

    walls, cpus, queries, thread_cpus = [], [], [], []
    profiler = cProfile.Profile() if args.profile else None

    def timed_pick(t, user, seat, measure: bool) -> None:
        if not measure:
            plan.seat_pick(trip_id=t["trip"].pk, user=user, leg="outbound", seat_id=seat)
            return
        with CaptureQueriesContext(connection) as captured:
            if profiler:
                profiler.enable()
            c0 = time.thread_time()
            plan.seat_pick(trip_id=t["trip"].pk, user=user, leg="outbound", seat_id=seat)
            thread_cpus.append((time.thread_time() - c0) * 1000)
            if profiler:
                profiler.disable()
        queries.append(len(captured.captured_queries))

    def choose():
        # The read of the trip's current holds is the benchmark's, not the pick's.
        t = rng.choice(trips)
        user = rng.choice(t["members"])
        held = set(
            SeatAllocation.objects.filter(leg=t["leg"], state="held").values_list(
                "seat_id", flat=True
            )
        )
        return t, user, rng.choice([s for s in t["pool"] if s not in held])

    async def run() -> None:
        for n in range(50 + args.picks):
            t, user, seat = await sync_to_async(choose, thread_sensitive=False)()
            measure = n >= 50
            w0, c0 = time.perf_counter(), time.process_time()
            await sync_to_async(timed_pick, thread_sensitive=False)(t, user, seat, measure)
            # Let the broadcasts scheduled on the loop go out before the clock stops.
            await asyncio.sleep(0)
            if measure:
                walls.append((time.perf_counter() - w0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)

    asyncio.run(run())
    walls.sort()
    result = {
        "picks": args.picks,
        "wall_ms_mean": round(statistics.fmean(walls), 2),
        "wall_ms_p50": round(harness.percentile(walls, 50), 2),
        "wall_ms_p99": round(harness.percentile(walls, 99), 2),
        "cpu_ms_mean": round(statistics.fmean(cpus), 2),
        # The pick's own thread (its queries and the hand-over of its broadcasts), without
        # the loop's side of the broadcasts.
        "thread_cpu_ms_mean": round(statistics.fmean(thread_cpus), 2),
        "queries_mean": round(statistics.fmean(queries), 2),
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    harness.print_json_line(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
