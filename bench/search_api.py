"""Departure search and departure detail under load, against the floor of the same run.

    .venv/bin/python bench/search_api.py --quick          # SQLite, under a minute
    .venv/bin/python bench/search_api.py                  # SQLite, 30 days of demo data
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/search_api.py --postgres

Measures, with the same concurrency and request count each:

- ``GET /api/departures/?origin=FRPLY&destination=FRLPD&date=<tomorrow>``: a real search
  over the demo data (the day's Paris - Lyon departures, seats left and the lowest price
  per comfort class);
- ``GET /api/departures/<id>/``: the first of those departures with its fares and its whole
  seat map, each seat's status (free / held / sold);
- ``GET /bench/floor/``: a bare Django view through the same server and middleware, before
  and after the two (their mean is the floor).

``--postgres`` takes DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_sbs,
dropped and created again; only a database named bench* is ever dropped) and REDIS_URL
from the environment. The load generator runs on the same machine as the server and
shares its cores: read the ratios, not the absolute figures. Ends with one JSON line.
"""

import argparse
import datetime as dt
import os
import sys
import time
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

ORIGIN, DESTINATION = "FRPLY", "FRLPD"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute, set-up included")
    parser.add_argument("--concurrency", type=int, default=8, help="workers (default 8)")
    parser.add_argument(
        "--requests", type=int, help="requests per endpoint (default 2000; --quick 200)"
    )
    parser.add_argument(
        "--max-seconds", type=float, help="time limit per endpoint (default 60; --quick 12)"
    )
    parser.add_argument("--days", type=int, help="load_demo --days (default 30; --quick 2)")
    parser.add_argument(
        "--postgres", action="store_true", help="PostgreSQL + Redis from DATABASE_URL/REDIS_URL"
    )
    parser.add_argument(
        "--no-debug",
        action="store_true",
        help="DJANGO_DEBUG=0 (production settings, no TLS redirect); default DJANGO_DEBUG=1",
    )
    parser.add_argument("--no-queries", action="store_true", help="skip the query count")
    args = parser.parse_args(argv)
    args.requests = args.requests or (200 if args.quick else 2000)
    args.max_seconds = args.max_seconds or (12.0 if args.quick else 60.0)
    args.days = args.days if args.days is not None else (2 if args.quick else 30)
    if args.days < 2:
        parser.error("--days must be at least 2: the search is for tomorrow")
    if not (1 <= args.concurrency <= 256 and 1 <= args.requests <= 1_000_000):
        parser.error("--concurrency 1..256, --requests 1..1000000")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    database_url = redis_url = None
    if args.postgres:
        database_url = os.environ.get("DATABASE_URL") or harness.DEFAULT_POSTGRES_URL
        redis_url = os.environ.get("REDIS_URL") or None
    tomorrow = dt.datetime.now(PARIS).date() + dt.timedelta(days=1)
    search_path = f"/api/departures/?origin={ORIGIN}&destination={DESTINATION}&date={tomorrow}"
    load = {
        "concurrency": args.concurrency,
        "requests": args.requests,
        "max_seconds": args.max_seconds,
        "warmup": 20 if args.quick else 50,
    }

    with harness.app_server(
        demo_days=args.days,
        database_url=database_url,
        redis_url=redis_url,
        debug=not args.no_debug,
    ) as server:
        found = harness.http_get_json(server, search_path)
        if not found:
            raise SystemExit(f"the search found no departure: {search_path}")
        departure_id = found[0]["id"]
        detail_path = f"/api/departures/{departure_id}/"
        detail = harness.http_get_json(server, detail_path)
        seats = [s for c in detail["coaches"] for d in c["decks"] for s in d["seats"]]
        taken = sum(s["status"] != "free" for s in seats)
        print(
            f"search {search_path}: {len(found)} departures; detail {detail_path}: "
            f"{len(seats)} seats ({taken} taken), {len(detail['fares'])} fares"
        )

        results = [
            harness.run_load(server, harness.FLOOR_PATH, name="floor (before)", **load),
            harness.run_load(server, search_path, name="search", **load),
            harness.run_load(server, detail_path, name="detail", **load),
            harness.run_load(server, harness.FLOOR_PATH, name="floor (after)", **load),
        ]
        floor_before, search, detail_result, floor_after = results
        floor_rps = (floor_before.rps + floor_after.rps) / 2
        queries = {}
        if not args.no_queries:
            queries = harness.query_counts(server, [harness.FLOOR_PATH, search_path, detail_path])
        load_after = os.getloadavg()[0]
        setup_seconds = server.setup_seconds
        database = server.database

    print()
    print(
        f"{database}{' + Redis' if redis_url else ''}, DJANGO_DEBUG={0 if args.no_debug else 1}, "
        f"load_demo --days {args.days}; {args.concurrency} workers, {args.requests} requests "
        f"per endpoint; {harness.cpu_count()} cores shared by server and load generator"
    )
    harness.print_table(results, floor_rps=floor_rps)
    drift = abs(floor_before.rps - floor_after.rps) / floor_rps if floor_rps else 0
    print(f"floor: {floor_rps:,.0f} rps (mean of before and after; they differ by {drift:.0%})")
    for path, q in queries.items():
        print(
            f"one request, in process: {q['queries']} queries, {q['sql_ms']} ms of SQL, "
            f"{q['request_ms']} ms in all, {q['bytes']:,} bytes  {path}"
        )
    print(
        f"set-up {setup_seconds:.1f} s, total {time.monotonic() - started:.1f} s; "
        f"load average (1 min) {load_before:.2f} before, {load_after:.2f} at the end"
    )

    r = harness.rounded
    harness.print_json_line(
        {
            "benchmark": "search_api",
            "search_p50_ms": r(search.p50_ms),
            "search_p99_ms": r(search.p99_ms),
            "search_rps": r(search.rps, 1),
            "detail_p50_ms": r(detail_result.p50_ms),
            "detail_p99_ms": r(detail_result.p99_ms),
            "detail_rps": r(detail_result.rps, 1),
            "floor_rps": r(floor_rps, 1),
            "search_ratio": r(search.rps / floor_rps, 3),
            "detail_ratio": r(detail_result.rps / floor_rps, 3),
            "database": database,
            "redis": bool(redis_url),
            "debug": not args.no_debug,
            "concurrency": args.concurrency,
            "requests": args.requests,
            "errors": sum(x.errors for x in results),
            "search_queries": queries.get(search_path, {}).get("queries"),
            "detail_queries": queries.get(detail_path, {}).get("queries"),
            "floor_queries": queries.get(harness.FLOOR_PATH, {}).get("queries"),
            "cpus": harness.cpu_count(),
            "loadavg_before": round(load_before, 2),
        }
    )
    return 1 if any(x.errors for x in results) else 0


if __name__ == "__main__":
    sys.exit(main())
