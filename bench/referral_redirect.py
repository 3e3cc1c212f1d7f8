"""The share link's landing page ``/r/<code>/`` under load, against the floor of the same run.

    .venv/bin/python bench/referral_redirect.py --quick          # SQLite, under a minute
    .venv/bin/python bench/referral_redirect.py                  # SQLite, 3,000 requests
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_redirect \\
      REDIS_URL=redis://127.0.0.1:6379/2 .venv/bin/python bench/referral_redirect.py --postgres

Every request is a real, tracked visit, as in production: the link is read, the click
counted (one INSERT), the visitor found or made, the page rendered with its Open Graph
tags. The requests are a mix of what a shared link meets (``MIX``): first visits of
browsers without any cookie (a new visitor, no session), browsers coming back within
their session, browsers that consented (``sbs_consent`` + the signed ``sbs_vid`` cookie),
and a small share of link-crawler previews (facebookexternalhit, Twitterbot, WhatsApp, …),
spread over many links, with varied user agents and languages. The visitors coming back
and their cookies are made before the load (``--links`` links over a third as many trips).

The load generator runs from one address: the per-source click limit
(``REFERRAL_CLICK_RATE``, 30/m) would flag nearly every click, so the run raises it to a
rate no run reaches. The limiter is still consulted (one cache increment per click), so
its cost is measured; what a flood does is tested in ``tests/referrals/``.

Measured with the same concurrency and request count: the floor ``/bench/floor/`` (a bare
Django view through the same server and middleware), the landing mix, the floor again;
``ratio`` = landing rps / mean floor rps (target ≥ 0.7). After the load the clicks are
counted in the database (one per landing request answered, previews apart) and one
request of each kind is profiled in process (queries and time). Ends with one JSON line.

``--postgres`` takes ``BENCH_DATABASE_URL`` (default .../bench_redirect; dropped and
created again; only a database named bench* is ever dropped) and ``REDIS_URL`` (cache and
channel layer) from the environment. The load generator shares the machine's cores with
the server: read the ratio, not the absolute figures.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_redirect"
# No run comes near it: every click is counted (see the module's docstring).
CLICK_RATE = "100000000/m"

# What one request is, and how often (shares of the requests, summing to 1).
MIX = {
    "new": 0.45,  # first visit, no cookie at all: a visitor is made (no session)
    "session": 0.28,  # back within the session (no consent given): its visitor is found
    "consented": 0.22,  # consent given earlier: ``sbs_consent`` + signed ``sbs_vid``
    "preview": 0.05,  # a link crawler drawing the card: a preview, no visitor
}

BROWSERS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/489.0.0.51.107;FBBV/654321;"
    "FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/18.1;FBSS/3;FBCR/;FBID/phone;FBLC/fr_FR]",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Instagram 358.0.0.24.101 (iPhone14,5; iOS 17_6)",
    "Mozilla/5.0 (Linux; Android 13; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.6723.102 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/488.0.0.61.109;]",
)
CRAWLERS = (
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "WhatsApp/2.24.23.78 A",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
)
LANGUAGES = ("fr-FR,fr;q=0.9,en;q=0.5", "fr-FR,fr;q=0.9", "en-GB,en;q=0.9", "en-US,en;q=0.9")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute, set-up included")
    parser.add_argument("--concurrency", type=int, default=8, help="workers (default 8)")
    parser.add_argument(
        "--requests", type=int, help="requests per phase (default 3000; --quick 400)"
    )
    parser.add_argument(
        "--max-seconds", type=float, help="time limit per phase (default 60; --quick 10)"
    )
    parser.add_argument("--links", type=int, help="share links (default 300; --quick 60)")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="PostgreSQL + Redis from BENCH_DATABASE_URL / REDIS_URL",
    )
    parser.add_argument(
        "--no-debug",
        action="store_true",
        help="DJANGO_DEBUG=0 (production settings, no TLS redirect); default DJANGO_DEBUG=1",
    )
    parser.add_argument("--seed", type=int, default=6, help="random seed of the request mix")
    args = parser.parse_args(argv)
    args.requests = args.requests or (400 if args.quick else 3000)
    args.max_seconds = args.max_seconds or (10.0 if args.quick else 60.0)
    args.links = args.links or (60 if args.quick else 300)
    if not (1 <= args.concurrency <= 256 and 1 <= args.requests <= 1_000_000):
        parser.error("--concurrency 1..256, --requests 1..1000000")
    if not 3 <= args.links <= 100_000:
        parser.error("--links 3..100000")
    return args


# --- Steps run in a separate process, inside Django, on the server's database ---------------


def _django():
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()


def helper_seed(links: int, seed: int) -> dict:
    """Trips of 2-6 travellers between the demo's stations, their share links (a few
    channels, a few sharers each), and visitors coming back: some in a session (no
    consent given), some with consent (their signed cookie). Prints their codes and
    cookies as JSON."""
    _django()
    import datetime as dt

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core import signing
    from django.db import transaction
    from django.utils import timezone

    from booking.models import Event, Station
    from booking.services import trip_create
    from groups.models import Membership, Profile
    from referrals import services
    from referrals.models import Consent, ShareChannel, ShareLink, Visitor

    rng = random.Random(seed)
    user_model = get_user_model()
    stations = list(Station.objects.values_list("code", flat=True))
    events = list(Event.objects.values_list("slug", flat=True))
    channels = ShareChannel.values
    today = timezone.localdate()
    codes: list[str] = []
    with transaction.atomic():
        n = 0
        while len(codes) < links:
            n += 1
            people = []
            for i in range(rng.randint(2, 6)):
                user = user_model.objects.create_user(
                    username=f"bench-{seed}-{n}-{i}", email=f"bench-{seed}-{n}-{i}@example.test"
                )
                Profile.objects.create(user=user, display_name=f"Bench Traveller {n}-{i}")
                people.append(user)
            origin, destination = rng.sample(stations, 2)
            fields = {"destination_code": destination}
            if events and rng.random() < 0.15:
                fields = {"event_slug": rng.choice(events)}
            trip = trip_create(
                organiser=people[0],
                origin_code=origin,
                outbound_from=today + dt.timedelta(days=rng.randint(3, 60)),
                privacy="public" if rng.random() < 0.3 else "private",
                **fields,
            )
            Membership.objects.bulk_create(
                Membership(group_id=trip.group_id, user=p, status=Membership.Status.ACTIVE)
                for p in people[1:]
            )
            for sharer in rng.sample(people, min(len(people), 3)):
                for channel in rng.sample(channels, 2):
                    ShareLink.objects.create(trip=trip, sharer=sharer, channel=channel)
                    codes.append(
                        ShareLink.objects.filter(trip=trip, sharer=sharer, channel=channel)
                        .values_list("code", flat=True)
                        .get()
                    )
        codes = codes[:links]
        # Visitors coming back: their cookies, made the way the landing page makes them.
        session_cookies, consent_cookies = [], []
        signer = signing.get_cookie_signer(
            salt=services.VISITOR_COOKIE + services.VISITOR_COOKIE_SALT
        )
        for _ in range(max(50, links)):
            visitor = Visitor.objects.create(consent=Consent.UNKNOWN)
            session = SessionStore()
            session[services.VISITOR_SESSION_KEY] = visitor.key
            session.create()
            session_cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
            visitor = Visitor.objects.create(consent=Consent.GRANTED)
            consent_cookies.append(
                f"{services.CONSENT_COOKIE}={Consent.GRANTED}; "
                f"{services.VISITOR_COOKIE}={signer.sign(visitor.key)}"
            )
    return {"codes": codes, "session": session_cookies, "consented": consent_cookies}


def helper_count() -> dict:
    """The clicks in the database after the load."""
    _django()
    from django.contrib.sessions.models import Session
    from django.db.models import Count, Q

    from referrals.models import Click, Visitor

    counts = Click.objects.aggregate(
        clicks=Count("pk"),
        previews=Count("pk", filter=Q(is_preview=True)),
        with_visitor=Count("pk", filter=Q(visitor__isnull=False)),
        flagged=Count("pk", filter=Q(flagged=True)),
    )
    counts["visitors"] = Visitor.objects.count()
    counts["sessions"] = Session.objects.count()
    counts["families"] = dict(
        Counter(Click.objects.values_list("user_agent_family", flat=True)).most_common()
    )
    return counts


def helper_profile(code: str, session_cookie: str, consent_cookie: str) -> dict:
    """One request of each kind through the whole middleware stack (Django's test client),
    after a warm-up of each: queries, SQL time, the template's share of the time; and the
    floor view the same way."""
    _django()
    from http.cookies import SimpleCookie

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    def cookies(header: str) -> dict:
        return dict(part.strip().split("=", 1) for part in header.split(";") if part.strip())

    landing = f"/r/{code}/"
    kinds = {
        "new": ({}, BROWSERS[1], landing),
        "session": (cookies(session_cookie), BROWSERS[0], landing),
        "consented": (cookies(consent_cookie), BROWSERS[2], landing),
        "preview": ({}, CRAWLERS[0], landing),
        # The floor view through the same stack, for comparison.
        "floor": ({}, BROWSERS[1], harness.FLOOR_PATH),
    }
    out = {}
    render_seconds = [0.0]

    import django.template.backends.django as backend

    original_render = backend.Template.render

    def timed_render(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original_render(self, *args, **kwargs)
        finally:
            render_seconds[0] += time.perf_counter() - t0

    backend.Template.render = timed_render
    for kind, (jar, agent, path) in kinds.items():
        timings = []
        # One client (one handler) per kind: a new handler builds the middleware again, and
        # WhiteNoise then scans the static files (tens of ms that no served request pays).
        client = Client(HTTP_USER_AGENT=agent, HTTP_ACCEPT_LANGUAGE=LANGUAGES[0])
        for attempt in range(6):
            client.cookies = SimpleCookie()  # each attempt a browser with only its jar
            for name, value in jar.items():
                client.cookies[name] = value
            sql = [0.0]

            def timer(execute, sql_text, params, many, context, sql=sql):
                t0 = time.perf_counter()
                try:
                    return execute(sql_text, params, many, context)
                finally:
                    sql[0] += time.perf_counter() - t0

            render_seconds[0] = 0.0
            with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(timer):
                t0 = time.perf_counter()
                response = client.get(path, HTTP_HOST="127.0.0.1")
                elapsed = time.perf_counter() - t0
            if attempt:  # the first is a warm-up
                timings.append((elapsed, sql[0], render_seconds[0]))
        timings.sort()
        elapsed, sql_s, render_s = timings[len(timings) // 2]
        out[kind] = {
            "status": response.status_code,
            "queries": len(ctx.captured_queries),
            "request_ms": round(elapsed * 1000, 2),
            "sql_ms": round(sql_s * 1000, 2),
            "template_ms": round(render_s * 1000, 2),
            "sql": [q["sql"][:110] for q in ctx.captured_queries],
        }
    return out


def run_helper(server: harness.Server, *args: str, timeout: float = 600) -> dict:
    proc = subprocess.run(
        [harness.PYTHON, str(Path(__file__).resolve()), "--helper", *args],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"helper {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- The load: each request its own headers --------------------------------------------------


def request_mix(seeded: dict, *, count: int, seed: int, host: str) -> tuple[list[bytes], Counter]:
    """``count`` distinct GETs of the landing pages, drawn from ``MIX``; links are drawn
    with a skew (a few links get most visits, as shares do)."""
    rng = random.Random(seed)
    codes = seeded["codes"]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(codes))]
    kinds = list(MIX)
    out, counts = [], Counter()
    for _ in range(count):
        kind = rng.choices(kinds, weights=[MIX[k] for k in kinds])[0]
        counts[kind] += 1
        code = rng.choices(codes, weights=weights)[0]
        headers = [
            f"GET /r/{code}/ HTTP/1.1",
            f"Host: {host}",
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ]
        if kind == "preview":
            headers.append(f"User-Agent: {rng.choice(CRAWLERS)}")
        else:
            headers.append(f"User-Agent: {rng.choice(BROWSERS)}")
            headers.append(f"Accept-Language: {rng.choice(LANGUAGES)}")
            if kind == "new" and rng.random() < 0.1:
                headers.append("Cookie: sbs_consent=refused")  # refused on another page
            elif kind in ("session", "consented"):
                headers.append(f"Cookie: {rng.choice(seeded[kind])}")
        headers.append("Connection: keep-alive")
        out.append(("\r\n".join(headers) + "\r\n\r\n").encode())
    return out, counts


# --- The run ---------------------------------------------------------------------------------


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--helper"]:
        step, *rest = argv[1:]
        if step == "seed":
            out = helper_seed(int(rest[0]), int(rest[1]))
        elif step == "count":
            out = helper_count()
        else:
            out = helper_profile(*rest[:3])
        print(json.dumps(out, default=str))
        return 0
    args = parse_args(argv)

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    database_url = redis_url = None
    if args.postgres:
        database_url = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
        redis_url = os.environ.get("REDIS_URL") or None
    warmup = 20 if args.quick else 60
    floor_load = {
        "concurrency": args.concurrency,
        "requests": args.requests,
        "max_seconds": args.max_seconds,
        "warmup": warmup,
    }

    with harness.app_server(
        demo_days=1,
        database_url=database_url,
        redis_url=redis_url,
        debug=not args.no_debug,
        extra_env={"REFERRAL_CLICK_RATE": CLICK_RATE},
    ) as server:
        t0 = time.monotonic()
        seeded = run_helper(server, "seed", str(args.links), str(args.seed))
        harness.log(
            f"{len(seeded['codes'])} share links, {len(seeded['session'])} visitors in a "
            f"session and {len(seeded['consented'])} with consent: "
            f"{time.monotonic() - t0:.1f} s"
        )
        host = f"{server.host}:{server.port}"
        mix, kinds = request_mix(seeded, count=warmup + args.requests, seed=args.seed, host=host)
        scratch = harness.run_encoded(
            server,
            mix[:warmup],
            name="warm-up",
            path="/r/<code>/",
            concurrency=min(args.concurrency, warmup),
            max_seconds=args.max_seconds,
        )
        if scratch.errors:
            raise RuntimeError(f"warm-up of the landing page failed: {dict(scratch.statuses)}")
        results = [
            harness.run_load(server, harness.FLOOR_PATH, name="floor (before)", **floor_load)
        ]
        results.append(
            harness.run_encoded(
                server,
                mix[warmup:],
                name="landing /r/<code>/",
                path="/r/<code>/",
                concurrency=args.concurrency,
                max_seconds=args.max_seconds,
            )
        )
        results.append(
            harness.run_load(server, harness.FLOOR_PATH, name="floor (after)", **floor_load)
        )
        floor_before, landing, floor_after = results
        counted = run_helper(server, "count")
        profile = run_helper(
            server,
            "profile",
            seeded["codes"][0],
            seeded["session"][0],
            seeded["consented"][0],
        )
        load_after = os.getloadavg()[0]
        setup_seconds = server.setup_seconds
        database = server.database

    floor_rps = (floor_before.rps + floor_after.rps) / 2
    answered = scratch.ok + landing.ok

    print()
    print(
        f"{database}{' + Redis' if redis_url else ''}, DJANGO_DEBUG={0 if args.no_debug else 1}; "
        f"{len(seeded['codes'])} links; {args.concurrency} workers, {args.requests} requests "
        f"per phase; {harness.cpu_count()} cores shared by server and load generator"
    )
    print(
        "landing mix: "
        + ", ".join(f"{kind} {n / sum(kinds.values()):.0%}" for kind, n in kinds.items())
    )
    harness.print_table(results, floor_rps=floor_rps)
    drift = abs(floor_before.rps - floor_after.rps) / floor_rps if floor_rps else 0
    print(f"floor: {floor_rps:,.0f} rps (mean of before and after; they differ by {drift:.0%})")
    print(
        f"clicks in the database: {counted['clicks']} for {answered} landing answers "
        f"(warm-up included): {counted['previews']} previews, {counted['with_visitor']} with "
        f"a visitor, {counted['flagged']} flagged; families {counted['families']}"
    )
    for kind, p in profile.items():
        print(
            f"one {kind} request, in process: {p['queries']} queries, {p['sql_ms']} ms of SQL, "
            f"{p['template_ms']} ms rendering, {p['request_ms']} ms in all"
        )
    print(
        "(in process: one thread, its database connection kept open; under Daphne each "
        "request has a thread of its own)"
    )
    print(
        f"set-up {setup_seconds:.1f} s, total {time.monotonic() - started:.1f} s; "
        f"load average (1 min) {load_before:.2f} before, {load_after:.2f} at the end"
    )
    clicks_ok = counted["clicks"] == answered and counted["flagged"] == 0
    if not clicks_ok:
        print("CLICKS DO NOT MATCH THE ANSWERS: some visits were not tracked")

    r = harness.rounded
    harness.print_json_line(
        {
            "benchmark": "referral_redirect",
            "rps": r(landing.rps, 1),
            "p50_ms": r(landing.p50_ms),
            "p99_ms": r(landing.p99_ms),
            "floor_rps": r(floor_rps, 1),
            "ratio": r(landing.rps / floor_rps, 3),
            "target_ratio": 0.7,
            "clicks": counted["clicks"],
            "answers": answered,
            "clicks_match": clicks_ok,
            "queries": {kind: p["queries"] for kind, p in profile.items() if kind != "floor"},
            "database": database,
            "redis": bool(redis_url),
            "debug": not args.no_debug,
            "concurrency": args.concurrency,
            "requests": args.requests,
            "links": len(seeded["codes"]),
            "errors": sum(x.errors for x in results),
            "cpus": harness.cpu_count(),
            "loadavg_before": round(load_before, 2),
        }
    )
    return 1 if any(x.errors for x in results) or not clicks_ok else 0


if __name__ == "__main__":
    sys.exit(main())
