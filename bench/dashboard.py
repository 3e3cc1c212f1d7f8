"""The referrals dashboard's JSON API over 90 days, on a million clicks in PostgreSQL.

    .venv/bin/python bench/dashboard.py --quick      # 100,000 clicks, 5,000 bookings
    .venv/bin/python bench/dashboard.py              # 1,000,000 clicks, 50,000 bookings
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_dashboard \\
      .venv/bin/python bench/dashboard.py

Steps, in this process (Django set up on the bench database):

1. The database of ``BENCH_DATABASE_URL`` (default .../bench_dashboard; only a database
   named bench* is ever dropped) is dropped, created, migrated, and given the demo
   catalog's stations (``booking.demo.STATIONS``).
2. Seeded in SQL (``INSERT … SELECT … FROM generate_series``, no ORM loop) over the last
   ``SPAN_DAYS`` days: accounts with profiles, booked trips (one friend group and one
   booking each), two share links per trip (sharers, channels, destinations spread),
   share intents, visitors, the clicks (each a few days after its link was made, 5 %
   previews, a few flagged: ``--flagged``) and conversions: one booking conversion per booking (3 %
   refunded), sign-ups and trips created. Then ``VACUUM ANALYZE``, as autovacuum would.
3. The rollups are made by the production code: ``referrals.rollups.rollup(today=day)``
   (the ``referrals_rollup`` job's function, the last ``REFERRAL_ROLLUP_DAYS`` days) for
   each day of the span in turn, as if the worker had run it every day, then
   ``rollup_job()`` once now, as the worker runs it every five minutes; both timed. Then
   one rebuild of the whole span, ``rollup(days=SPAN_DAYS + 1)`` (after restoring clicks),
   timed, and checked to leave every rollup row as the daily runs made it. Then ``VACUUM
   ANALYZE`` of the rollup tables (and of the share links and conversions, which a
   migration may have rewritten), as autovacuum would after so many writes (index-only
   scans need their pages marked all-visible).
4. ``GET /api/referrals/dashboard/?from=<today-89>&to=<today>`` through Django's test
   client, as a staff member with ``referrals.view_dashboard`` (full middleware, DRF,
   serialisation): warm-up, then ``--requests`` timed requests; ``p95_ms`` is their 95th
   percentile (target ≤ 300 ms at full size). The channel and destination filters are
   measured too, and each query of one request is timed and explained (which dominates).

``--reuse`` skips step 1's drop and the seeding, and step 3's daily runs, when the bench
database already holds a seed of the same size made today by a run that finished them (its
``bench_seed`` table says so); otherwise the run seeds as usual. The migrations still run
(a new one fills what it adds), then the rollup job once and the rebuild of the span, so
every rollup, summary and total is the current code's; then the API is timed. A full seed
and its daily runs take minutes (≈ 100 s and ≈ 230 s on 2 shared cores); this takes
about one.

``--with-index SQL`` runs that ``CREATE INDEX …`` on the bench database before the rollups
(to prove an index the code would need; the app's migrations are never changed here).
Ends with one JSON line. The database server, this process and anything else running share
the machine's cores.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_dashboard"
SPAN_DAYS = 120  # links made over the last 120 days; the dashboard reads the last 90
RANGE_DAYS = 90
CHANNELS = ("facebook", "whatsapp", "messenger", "x", "copy", "webshare")
FAMILIES = ("facebook-app", "chrome", "safari", "instagram-app", "samsung", "firefox", "edge")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 clicks, under a minute")
    parser.add_argument("--clicks", type=int, help="clicks (default 1,000,000; --quick 100,000)")
    parser.add_argument("--bookings", type=int, help="bookings (default 50,000; --quick 5,000)")
    parser.add_argument("--requests", type=int, help="timed API requests (default 200; --quick 30)")
    parser.add_argument(
        "--flagged", type=int, help="flagged clicks (flooding sources; default 1 in 20,000)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the bench database's seed when it is the same (size, made today)",
    )
    parser.add_argument(
        "--with-index",
        action="append",
        default=[],
        metavar="SQL",
        help="a CREATE INDEX statement run before the rollups (bench only; repeatable)",
    )
    args = parser.parse_args(argv)
    args.clicks = args.clicks or (100_000 if args.quick else 1_000_000)
    args.bookings = args.bookings or (5_000 if args.quick else 50_000)
    args.requests = args.requests or (30 if args.quick else 200)
    args.flagged = args.flagged if args.flagged is not None else args.clicks // 20_000
    if not (1_000 <= args.clicks <= 50_000_000 and 100 <= args.bookings <= 5_000_000):
        parser.error("--clicks 1,000..50,000,000, --bookings 100..5,000,000")
    if not 0 <= args.flagged <= args.clicks // 10:
        parser.error("--flagged 0..clicks / 10")
    for statement in args.with_index:
        if not statement.lstrip().upper().startswith("CREATE INDEX"):
            parser.error("--with-index takes a CREATE INDEX statement")
    return args


# --- Seeding, in SQL --------------------------------------------------------------------------


def _next_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
    return cursor.fetchone()[0]


def _sync_sequence(cursor, table: str) -> None:
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
        f"(SELECT greatest(max(id), 1) FROM {table}))"
    )


def seed(*, clicks: int, bookings: int, flagged: int) -> dict:
    """Everything the dashboard reads, in SQL; returns the row counts."""
    from django.conf import settings
    from django.db import connection, transaction

    trips = bookings
    users = max(200, int(bookings * 1.2))
    links = trips * 2
    visitors = max(100, int(clicks * 0.6))
    intents = int(links * 1.5)
    signups = min(users, int(bookings * 0.4))
    trips_created = int(trips * 0.2)
    timings = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM booking_station ORDER BY id")
        stations = [row[0] for row in cursor.fetchall()]
        if len(stations) < 2:
            raise RuntimeError("no stations")
        ids = {
            table: _next_id(cursor, table)
            for table in (
                "auth_user",
                "groups_friendgroup",
                "booking_trip",
                "booking_booking",
                "referrals_sharelink",
                "referrals_visitor",
            )
        }
        params = {
            "now": dt.datetime.now(dt.UTC),
            "tz": settings.TIME_ZONE,
            "span": f"{SPAN_DAYS} days",
            "stations": stations,
            "channels": list(CHANNELS),
            "families": list(FAMILIES),
            "u0": ids["auth_user"],
            "g0": ids["groups_friendgroup"],
            "t0": ids["booking_trip"],
            "b0": ids["booking_booking"],
            "l0": ids["referrals_sharelink"],
            "v0": ids["referrals_visitor"],
            "users": users,
            "trips": trips,
            "links": links,
            "visitors": visitors,
        }
        statements = {
            "users": (
                """INSERT INTO auth_user (id, password, is_superuser, username, first_name,
                       last_name, email, is_staff, is_active, date_joined)
                   SELECT %(u0)s + g, '!', false, 'bench' || g,
                          CASE WHEN g %% 2 = 0 THEN 'Name' || g ELSE '' END, '',
                          'bench' || g || '@example.test', false, true,
                          %(now)s - %(span)s::interval
                   FROM generate_series(1, %(users)s) g""",
                """INSERT INTO groups_profile (display_name, avatar_url, preferred_language,
                       created_at, updated_at, user_id)
                   SELECT 'Traveller ' || g || ' Bench', '', 'fr', %(now)s, %(now)s, %(u0)s + g
                   FROM generate_series(1, %(users)s) g""",
            ),
            "trips": (
                """INSERT INTO groups_friendgroup (id, name, privacy, requires_approval,
                       max_members, created_at, updated_at)
                   SELECT %(g0)s + g, 'Group ' || g, 'private', false, 8,
                          %(now)s - %(span)s::interval, %(now)s
                   FROM generate_series(1, %(trips)s) g""",
                # Destinations skewed (a few cities get most trips); origin ≠ destination.
                """INSERT INTO booking_trip (id, title, outbound_from, outbound_to, status,
                       version, created_at, updated_at, created_by_id, destination_id,
                       group_id, origin_id)
                   SELECT %(t0)s + g, 'Trip ' || g, d, d, 'booked', 3,
                          %(now)s - %(span)s::interval, %(now)s, %(u0)s + 1 + g %% %(users)s,
                          (%(stations)s::bigint[])[1 + (1 + floor(power(random(), 2) *
                              (cardinality(%(stations)s::bigint[]) - 1))::int)],
                          %(g0)s + g, (%(stations)s::bigint[])[1]
                   FROM (SELECT g, (%(now)s - random() * %(span)s::interval
                                + interval '20 days')::date AS d
                         FROM generate_series(1, %(trips)s) g) day""",
                """INSERT INTO booking_booking (id, state, confirmed_at, disputed, created_at,
                       trip_id)
                   SELECT %(b0)s + g, 'confirmed', %(now)s - random() * %(span)s::interval,
                          false, %(now)s, %(t0)s + g
                   FROM generate_series(1, %(trips)s) g""",
            ),
            # Two links per trip (k = 0, 1): different channels, so (trip, sharer, channel)
            # stays unique; made at any time of the span.
            "links": (
                # The copies (local day, destination) as the model writes them.
                """INSERT INTO referrals_sharelink (id, code, channel, created_at, day,
                       trip_id, destination_id, sharer_id)
                   SELECT %(l0)s + g, substr(md5('link' || g), 1, 12),
                          (%(channels)s::text[])[1 + (t + k * 3) %% 6],
                          made, (made AT TIME ZONE %(tz)s)::date,
                          %(t0)s + 1 + t, lt.destination_id,
                          %(u0)s + 1 + (t * 7 + k * 13) %% %(users)s
                   FROM generate_series(1, %(links)s) g,
                        LATERAL (SELECT (g - 1) %% %(trips)s AS t,
                                        (g - 1) / %(trips)s AS k,
                                        %(now)s - random() * %(span)s::interval AS made) x
                   JOIN booking_trip lt ON lt.id = %(t0)s + 1 + x.t""",
                """INSERT INTO referrals_shareintent (channel, at, link_id)
                   SELECT l.channel, l.created_at, l.id
                   FROM generate_series(1, %(intents)s) g
                   JOIN referrals_sharelink l ON l.id = %(l0)s + 1 + (g - 1) %% %(links)s""",
            ),
            "visitors": (
                """INSERT INTO referrals_visitor (id, key, consent, first_seen)
                   SELECT %(v0)s + g, md5('visitor' || g),
                          CASE WHEN g %% 3 = 0 THEN 'granted' ELSE 'unknown' END,
                          %(now)s - %(span)s::interval
                   FROM generate_series(1, %(visitors)s) g""",
            ),
            # Each click a few days after its link was made (most within two days), never
            # in the future; 5 % previews (no visitor), ``flagged`` of them flagged.
            "clicks": (
                """INSERT INTO referrals_click (channel, at, is_preview, flagged, ip_hash,
                       user_agent_family, link_id, visitor_id)
                   SELECT l.channel,
                          least(%(now)s - interval '1 minute',
                                l.created_at + (-ln(1 - random() * 0.999)) * interval '2 days'),
                          p, g %% %(flag_every)s = 0,
                          md5('ip' || (g %% 400000)) || md5('salt' || (g %% 400000)),
                          CASE WHEN p THEN 'facebookexternalhit'
                               ELSE (%(families)s::text[])[1 + g %% 7] END,
                          l.id,
                          CASE WHEN p THEN NULL
                               ELSE %(v0)s + 1 + floor(random() * %(visitors)s)::bigint END
                   FROM (SELECT g, %(l0)s + 1 + floor(random() * %(links)s)::bigint AS lid,
                                random() < 0.05 AS p
                         FROM generate_series(1, %(clicks)s) g) pick
                   JOIN referrals_sharelink l ON l.id = pick.lid""",
            ),
            # One booking conversion per booking (3 % refunded), sign-ups (one per
            # account), trips created (one per trip): each after its link was made, with
            # its local day and destination, as the model writes them.
            "conversions": (
                """INSERT INTO referrals_conversion (kind, channel, destination_id,
                       amount_cents, currency, reversed_cents, at, day, booking_id, link_id,
                       trip_id, user_id)
                   SELECT 'booking', l.channel, l.destination_id, a, 'EUR',
                          CASE WHEN g %% 33 = 0 THEN a ELSE 0 END,
                          w.at, (w.at AT TIME ZONE %(tz)s)::date,
                          %(b0)s + g, l.id, %(t0)s + g, %(u0)s + 1 + (g * 11) %% %(users)s
                   FROM (SELECT g, %(l0)s + 1 + floor(random() * %(links)s)::bigint AS lid,
                                4500 + floor(random() * 15000)::int AS a
                         FROM generate_series(1, %(trips)s) g) pick
                   JOIN referrals_sharelink l ON l.id = pick.lid,
                   LATERAL (SELECT least(%(now)s - interval '1 minute',
                                         l.created_at + random() * interval '10 days') AS at) w""",
                """INSERT INTO referrals_conversion (kind, channel, destination_id,
                       amount_cents, currency, reversed_cents, at, day, link_id, user_id)
                   SELECT 'signup', l.channel, l.destination_id, 0, '', 0,
                          w.at, (w.at AT TIME ZONE %(tz)s)::date, l.id, %(u0)s + g
                   FROM (SELECT g, %(l0)s + 1 + floor(random() * %(links)s)::bigint AS lid
                         FROM generate_series(1, %(signups)s) g) pick
                   JOIN referrals_sharelink l ON l.id = pick.lid,
                   LATERAL (SELECT least(%(now)s - interval '1 minute',
                                         l.created_at + random() * interval '10 days') AS at) w""",
                """INSERT INTO referrals_conversion (kind, channel, destination_id,
                       amount_cents, currency, reversed_cents, at, day, link_id, trip_id,
                       user_id)
                   SELECT 'trip_created', l.channel, l.destination_id, 0, '', 0,
                          w.at, (w.at AT TIME ZONE %(tz)s)::date,
                          l.id, %(t0)s + g, %(u0)s + 1 + g %% %(users)s
                   FROM (SELECT g, %(l0)s + 1 + floor(random() * %(links)s)::bigint AS lid
                         FROM generate_series(1, %(trips_created)s) g) pick
                   JOIN referrals_sharelink l ON l.id = pick.lid,
                   LATERAL (SELECT least(%(now)s - interval '1 minute',
                                         l.created_at + random() * interval '10 days') AS at) w""",
            ),
        }
        params.update(
            clicks=clicks,
            intents=intents,
            signups=signups,
            trips_created=trips_created,
            # No multiple of clicks + 1 in 1..clicks: none flagged.
            flag_every=clicks // flagged if flagged else clicks + 1,
        )
        for step, sqls in statements.items():
            t0 = time.monotonic()
            for sql in sqls:
                cursor.execute(sql, params)
            timings[step] = round(time.monotonic() - t0, 1)
            harness.log(f"seeded {step}: {timings[step]} s")
        for table in ids:
            _sync_sequence(cursor, table)
    t0 = time.monotonic()
    with connection.cursor() as cursor:  # outside the transaction (VACUUM cannot run in one)
        cursor.execute("VACUUM ANALYZE")
    timings["vacuum_analyze"] = round(time.monotonic() - t0, 1)
    return {
        "rows": {
            "users": users,
            "trips": trips,
            "bookings": bookings,
            "links": links,
            "share_intents": intents,
            "visitors": visitors,
            "clicks": clicks,
            "conversions": bookings + signups + trips_created,
        },
        "seconds": timings,
    }


def _seed_key(args: argparse.Namespace, today: dt.date) -> tuple:
    return (args.clicks, args.bookings, args.flagged, SPAN_DAYS, today)


def seeded_already(database_url: str, key: tuple) -> bool:
    """Whether the bench database holds a finished seed of this size, made today."""
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT clicks, bookings, flagged, span_days, seeded_on FROM bench_seed"
            ).fetchone()
    except psycopg.Error:  # no database, or no seed table: never seeded
        return False
    return row is not None and tuple(row) == key


def seed_mark(key: tuple) -> None:
    """Remember the finished seed (``--reuse``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_seed")
        cursor.execute(
            "CREATE TABLE bench_seed (clicks integer, bookings integer, flagged integer, "
            "span_days integer, seeded_on date)"
        )
        cursor.execute("INSERT INTO bench_seed VALUES (%s, %s, %s, %s, %s)", key)


# --- Measuring the API ------------------------------------------------------------------------


def staff_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.test import Client

    staff = get_user_model().objects.filter(username="bench-staff").first()
    staff = staff or get_user_model().objects.create_user(
        username="bench-staff", email="staff@example.test", is_staff=True
    )
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_dashboard")
    )
    client = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT="application/json")
    client.force_login(staff)
    return client


def timed_requests(client, path: str, query: dict, *, requests: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        response = client.get(path, query)
        if response.status_code != 200:
            raise RuntimeError(
                f"GET {path} {query}: {response.status_code} {response.content[:300]!r}"
            )
    out = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path, query)
        out.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
    return sorted(out)


def query_profile(client, path: str, query: dict) -> list[dict]:
    """Each SQL statement of one request: its time, and the top of its plan."""
    from django.db import connection

    timings: list[dict] = []

    def timer(execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append(
                {"ms": round((time.perf_counter() - t0) * 1000, 2), "sql": sql, "params": params}
            )

    with connection.execute_wrapper(timer):
        client.get(path, query)
    out = []
    with connection.cursor() as cursor:
        for item in timings:
            plan = ""
            if item["sql"].lstrip().upper().startswith("SELECT") and "referrals_" in item["sql"]:
                cursor.execute("EXPLAIN " + item["sql"], item["params"])
                plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:3])
            out.append(
                {"ms": item["ms"], "sql": " ".join(item["sql"].split())[:150], "plan": plan[:240]}
            )
    return out


def _rollups_digest() -> str:
    """One hash of every rollup row's figures and copies (not ``updated_at``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT md5(string_agg(concat_ws(',', link_id, day, channel, destination_id,
                   sharer_id, previews, visits, unique_visitors, flagged, share_intents), ';'
                   ORDER BY link_id, day))
               FROM referrals_dailyrollup"""
        )
        return cursor.fetchone()[0] or ""


# --- The run ----------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    database_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or None
    # The day of the seed, in the app's time zone (Europe/Paris unless DJANGO_TIME_ZONE).
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(os.environ.get("DJANGO_TIME_ZONE") or "Europe/Paris")
    seed_key = _seed_key(args, dt.datetime.now(zone).date())
    reused = args.reuse and seeded_already(database_url, seed_key)
    if reused:
        harness.log(f"reusing the seed of {harness.database_name(database_url)!r}: {seed_key}")
    else:
        harness.recreate_postgres_database(database_url)
    var_dir = Path(tempfile.mkdtemp(prefix="sbs-bench-dashboard-"))
    env = harness.server_env(var_dir=var_dir, database_url=database_url, redis_url=redis_url)
    harness.manage(env, "migrate", "--noinput", "-v", "0")
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from booking.demo import STATIONS
    from booking.models import Station
    from referrals import rollups
    from referrals.models import Click, DailyRollup

    seeded, seed_seconds = {"seconds": "reused"}, None
    if not reused:
        for code, name, city in STATIONS:  # the demo catalog's stations (the destinations)
            Station.objects.get_or_create(
                code=code, defaults={"name": name, "city": city, "time_zone": "Europe/Paris"}
            )
        t0 = time.monotonic()
        seeded = seed(clicks=args.clicks, bookings=args.bookings, flagged=args.flagged)
        seed_seconds = time.monotonic() - t0
        harness.log(f"seeded in {seed_seconds:.1f} s: {seeded['rows']}")

    with connection.cursor() as cursor:
        for statement in args.with_index:
            t0 = time.monotonic()
            cursor.execute(statement)
            harness.log(f"bench-only index ({time.monotonic() - t0:.1f} s): {statement}")
        if args.with_index:
            cursor.execute("ANALYZE")

    # The rollup job as the worker runs it (the last ROLLUP_DAYS days), once for each day
    # of the span, as if it had run every day; then once more now, timed alone.
    from django.conf import settings

    today = timezone.localdate()
    t0 = time.monotonic()
    runs = []
    for back in range(SPAN_DAYS, -1, -1) if not reused else ():
        t1 = time.monotonic()
        rollups.rollup(today=today - dt.timedelta(days=back))
        runs.append(time.monotonic() - t1)
    rollup_all_seconds = time.monotonic() - t0 if runs else None
    t0 = time.monotonic()
    job_rows = rollups.rollup_job()
    rollup_job_seconds = time.monotonic() - t0
    # A rebuild of the whole span at once: the same rows as the daily runs (each day's
    # flooding sources are that day's, whatever the window).
    before = _rollups_digest()
    t0 = time.monotonic()
    rollups.rollup(days=SPAN_DAYS + 1, today=today)
    rebuild_seconds = time.monotonic() - t0
    rebuild_same = _rollups_digest() == before
    flagged_sources = Click.objects.filter(flagged=True).count()
    harness.log(
        f"rebuild of {SPAN_DAYS + 1} days ({flagged_sources} flagged sources): "
        f"{rebuild_seconds:.2f} s, same rows: {rebuild_same}"
    )
    with connection.cursor() as cursor:
        for table in (
            "referrals_dailyrollup",
            "referrals_dailysummary",
            "referrals_sharertotal",
            # Rewritten by a migration when the seed is reused (new copies filled).
            "referrals_sharelink",
            "referrals_conversion",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    if not reused:
        seed_mark(seed_key)
    rollup_days = settings.REFERRALS["ROLLUP_DAYS"]
    daily = (
        f"for each of {len(runs)} days ({rollup_days} days each): "
        f"{rollup_all_seconds:.1f} s in all, {max(runs):.2f} s the longest"
        if runs
        else "(daily runs skipped: seed reused)"
    )
    harness.log(f"rollup job {daily}; the job now: {job_rows:,} rows in {rollup_job_seconds:.2f} s")

    client = staff_client()
    path = "/api/referrals/dashboard/"
    main_query = {
        "from": (today - dt.timedelta(days=RANGE_DAYS - 1)).isoformat(),
        "to": today.isoformat(),
    }
    warmup = 3 if args.quick else 10
    main_ms = timed_requests(client, path, main_query, requests=args.requests, warmup=warmup)
    body = client.get(path, main_query).json()
    filtered = {}
    for name, extra in (
        ("channel", {"channel": "whatsapp"}),
        ("destination", {"destination": "FRLPD"}),
    ):
        filtered[name] = timed_requests(
            client, path, {**main_query, **extra}, requests=max(10, args.requests // 4), warmup=2
        )
    profile = query_profile(client, path, main_query)
    rollup_count = DailyRollup.objects.count()
    load_after = os.getloadavg()[0]

    pct = harness.percentile
    p95 = pct(main_ms, 95)
    totals = body["totals"]
    print()
    print(
        f"PostgreSQL {connection.pg_version // 10000}, {harness.cpu_count()} cores (shared "
        f"with the database server and anything else running); {args.clicks:,} clicks, "
        f"{args.bookings:,} bookings; {rollup_count:,} daily rollup rows"
    )
    print(
        (
            f"seeding {seed_seconds:.1f} s ({seeded['seconds']}); the rollup job once per day "
            f"of the span {rollup_all_seconds:.1f} s in all (longest {max(runs):.2f} s)"
            if not reused
            else "seed reused (--reuse): no seeding, no daily runs"
        )
        + f"; the job now {rollup_job_seconds:.2f} s; a rebuild of the span "
        f"{rebuild_seconds:.2f} s ({flagged_sources} flagged sources, same rows: {rebuild_same})"
    )
    print(
        f"90-day answer: {totals['visitors']:,} visitors, {totals['shares']:,} shares, "
        f"{totals['bookings']:,} bookings, revenue {totals['revenue_cents'] / 100:,.0f} EUR, "
        f"{len(body['series'])} days, {len(body['by_destination'])} destinations"
    )
    print(f"{'request':<24}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, values in (
        ("90 days", main_ms),
        *((f"90 days, {k}", v) for k, v in filtered.items()),
    ):
        p50, p95_row = pct(values, 50), pct(values, 95)
        print(f"{name:<24}{len(values):>5}{p50:>10.1f}{p95_row:>10.1f}{values[-1]:>10.1f}")
    print("one 90-day request, query by query:")
    for item in profile:
        print(f"  {item['ms']:>8.2f} ms  {item['sql']}")
        if item["plan"]:
            print(f"               plan: {item['plan']}")
    if args.with_index:
        print(f"with bench-only indexes: {args.with_index}")
    print(
        f"total {time.monotonic() - started:.1f} s; load average (1 min) {load_before:.2f} "
        f"before, {load_after:.2f} at the end"
    )
    r = harness.rounded
    harness.print_json_line(
        {
            "benchmark": "dashboard",
            "p95_ms": r(p95),
            "p50_ms": r(pct(main_ms, 50)),
            "target_p95_ms": 300,
            "range_days": RANGE_DAYS,
            "requests": len(main_ms),
            "channel_p95_ms": r(pct(filtered["channel"], 95)),
            "destination_p95_ms": r(pct(filtered["destination"], 95)),
            "queries": len(profile),
            "clicks": args.clicks,
            "bookings": args.bookings,
            "rollup_rows": rollup_count,
            "seed_reused": reused,
            "seed_seconds": r(seed_seconds, 1) if seed_seconds is not None else None,
            "rollup_seconds": r(rollup_all_seconds, 1) if runs else None,
            "rollup_job_seconds": r(rollup_job_seconds, 2),
            "rollup_rebuild_seconds": r(rebuild_seconds, 2),
            "rollup_rebuild_same_rows": rebuild_same,
            "flagged_sources": flagged_sources,
            "visitors_90d": totals["visitors"],
            "bench_indexes": args.with_index,
            "mean_ms": r(statistics.fmean(main_ms)),
            "cpus": harness.cpu_count(),
            "loadavg_before": round(load_before, 2),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
