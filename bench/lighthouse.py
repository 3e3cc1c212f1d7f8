"""Lighthouse on the pages of issue 18 ("Measured"), against ``make run``'s demo.

    PORT=8806 make run                                   # in one shell
    .venv/bin/python bench/lighthouse.py --base http://127.0.0.1:8806   # in another

Run it with the same environment as ``make run`` (``DJANGO_DEBUG=1``, the same
``DATABASE_URL`` or ``SIDEBYSIDE_VAR_DIR``): it prepares its pages in that database first
(idempotent, found again by their titles): the demo's trip in planning (Camille's), a trip
booked by three friends (booked straight through ``booking``'s services, no Stripe), a
trip in checkout for the pay page, a share link for the landing page and a staff account
for the dashboard; logged-in pages get a session cookie of their own.

Lighthouse is npm's, pinned in ``bench/lighthouse/package.json`` (``npm ci`` there), on
Debian's Chromium, with its defaults: mobile emulation and simulated throttling. Each
page is measured ``--runs`` times (median kept). Targets: performance ≥ 90, accessibility
≥ 95, best practices ≥ 95 on every page. Ends with one JSON line."""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "bench/lighthouse/node_modules/.bin/lighthouse"
CHROMIUM = "/usr/bin/chromium"
TARGETS = {"performance": 90, "accessibility": 95, "best-practices": 95}


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()


def _session_cookie(user) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The first backend that logs people in (axes' only watches logins).
    session[BACKEND_SESSION_KEY] = next(
        b for b in settings.AUTHENTICATION_BACKENDS if "axes" not in b.lower()
    )
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _prepare() -> dict[str, tuple[str, object]]:
    """The measured pages: name → (path, user or None)."""
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    from booking.models import Trip
    from payments import services as payments
    from payments.models import Checkout
    from referrals.services import share_link_get_or_create
    from tests import factories
    from tests.referrals.booked import book

    # The factories number their users from 1 in each process: start past earlier runs.
    factories._people = itertools.count(int(time.time()))
    planning = (
        Trip.objects.filter(
            status=Trip.Status.PLANNING, created_by__email__endswith="demo.sidebyside.test"
        )
        .order_by("pk")
        .first()
    )
    if planning is None:
        planning, _people, _deps = factories.planned_trip(travellers=3)
        planning.title = "Bench: planning"
        planning.save(update_fields=["title"])
    booked = Trip.objects.filter(title="Bench: booked").first()
    if booked is None:
        booked = factories.trip(title="Bench: booked", days_ahead=10)
        friends = [factories.member(booked, f"Friend {n}") for n in (1, 2)]
        book(booked, [booked.created_by, *friends])
    traveller = booked.legs.get().allocations.filter(state="sold").first().user
    pending = Trip.objects.filter(title="Bench: paying").first()
    if pending is None:
        pending, _people, _departure = factories.checkout_ready_trip(travellers=3)
        pending.title = "Bench: paying"
        pending.save(update_fields=["title"])
        payments.checkout_start(trip_id=pending.pk, by=pending.created_by)
    checkout = Checkout.objects.filter(trip=pending).order_by("-pk").first()
    token = payments.pay_link_token(checkout=checkout, payer=pending.created_by)
    link = share_link_get_or_create(trip_id=booked.pk, sharer=booked.created_by, channel="facebook")
    from django.contrib.auth import get_user_model

    staff, _made = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"email": "bench-staff@example.test", "is_staff": True}
    )
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="referrals", codename="view_dashboard")
    )
    return {
        "home": ("/", None),
        "trip-planning": (reverse("trip", args=[planning.pk]), planning.created_by),
        "trip-booked": (reverse("trip", args=[booked.pk]), traveller),
        "pay": (reverse("pay", args=[token]), None),
        "landing": (f"/r/{link.code}/", None),
        "dashboard": (reverse("referrals_dashboard"), staff),
    }


def _lighthouse(url: str, cookie: str) -> dict[str, int]:
    headers = {"Cookie": "; ".join(c for c in (cookie, "django_language=fr") if c)}
    out = subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            f"--chrome-path={CHROMIUM}",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            "--only-categories=performance,accessibility,best-practices",
            f"--extra-headers={json.dumps(headers)}",
            "--output=json",
            "--output-path=stdout",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    if out.returncode or not out.stdout.strip():
        raise SystemExit(f"lighthouse failed on {url}:\n{out.stderr[-2000:]}")
    report = json.loads(out.stdout)
    if report.get("runtimeError"):
        raise SystemExit(f"lighthouse could not load {url}: {report['runtimeError']['message']}")
    scores = {k: round(100 * (v["score"] or 0)) for k, v in report["categories"].items()}
    scores["lcp_ms"] = round(report["audits"]["largest-contentful-paint"]["numericValue"])
    scores["html_kb"] = round(
        next(
            (
                item["transferSize"]
                for item in report["audits"]["network-requests"]["details"]["items"]
                if item.get("resourceType") == "Document"
            ),
            0,
        )
        / 1024,
        1,
    )
    failed = [
        a["id"]
        for a in report["audits"].values()
        if a.get("score") is not None and a["score"] < 1 and a.get("scoreDisplayMode") == "binary"
    ]
    scores["failed_audits"] = sorted(failed)
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", nargs="*", help="page names to measure")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        print("Lighthouse is not installed: (cd bench/lighthouse && npm ci)", file=sys.stderr)
        return 2
    _django()
    pages = _prepare()
    results = {}
    for name, (path, user) in pages.items():
        if args.only and name not in args.only:
            continue
        runs = [
            _lighthouse(args.base + path, _session_cookie(user) if user else "")
            for _ in range(args.runs)
        ]
        scores = {
            key: statistics.median(r[key] for r in runs) for key in (*TARGETS, "lcp_ms", "html_kb")
        }
        scores["failed_audits"] = runs[-1]["failed_audits"]
        results[name] = scores
        print(
            f"{name:14} perf {scores['performance']:>5}  a11y {scores['accessibility']:>5}  "
            f"best {scores['best-practices']:>5}  LCP {scores['lcp_ms']:>6} ms  "
            f"HTML {scores['html_kb']:>6} KB  {' '.join(scores['failed_audits'])}",
            flush=True,
        )
    ok = all(scores[k] >= t for scores in results.values() for k, t in TARGETS.items())
    print(json.dumps({"bench": "lighthouse", "ok": ok, "targets": TARGETS, "pages": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
