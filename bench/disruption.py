"""Disruption at scale: a departure with booked trips of 8 (every ticket captured in the
Stripe sandbox) is cancelled and every traveller takes the full refund.

    .venv/bin/python bench/disruption.py --quick          # 5 trips × 8
    .venv/bin/python bench/disruption.py                  # 60 trips × 8 = 480 tickets
    .venv/bin/python bench/disruption.py --kill           # the worker killed midway

Set-up (not measured): a fresh PostgreSQL database (``BENCH_DATABASE_URL``, default
.../bench_disruption; only a database named bench* is dropped), copied from a template
that the first run migrates and keeps (``<name>_tpl_<digest of the migrations>``: a
changed migration makes a new one), so that ``--quick`` stays under a minute on a loaded
machine (``wall_s``, the whole run), the Stripe sandbox in a
child process, and the trips booked through the real path (``checkout_start``,
``payment_start`` with a sandbox card, the confirmation that captures), all on one train
with a 480-seat coach; two more trips of 8 on another train with Flex fares for the floor.

Measured:

- **floor** (``floor_per_ticket_ms``): one traveller cancelling their own Flex ticket
  through today's path (``payments.services.ticket_cancel``: the ticket, the seat, the
  event, the refund at Stripe), ticket after ticket, in this process;
- **bulk** (``per_ticket_ms``): ``departure_cancel``, then the worker's passes over the
  trips (``disruptions_apply``: one transaction each, choices and e-mails queued), each
  traveller's choice (``disruption_refund_choose``, recorded; Stripe left to the worker),
  and the worker's refunds (``disruption_refunds_send``), divided by the tickets.

With ``--kill`` the trips and the refunds are handled by a real ``manage.py worker``
process, killed (SIGKILL) once about half the refunds are done, then another started;
the figures then include the worker's waits between passes.

Checks: ``refunded`` (tickets refunded in full, in our rows) must equal ``tickets``;
``double_refunds`` (refunds the sandbox holds beyond our own rows, per PaymentIntent, or
more money back than captured) must be 0. Ends with one JSON line; exits 1 when a check
fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_disruption"
FLEX = {"fare_class_code": "flex-2", "passenger_type_code": "adult", "age": 35}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 trips, under a minute")
    parser.add_argument("--trips", type=int, help="booked trips on the train (60; --quick 5)")
    parser.add_argument("--travellers", type=int, default=8)
    parser.add_argument("--kill", action="store_true", help="a real worker, killed midway")
    args = parser.parse_args(argv)
    args.trips = args.trips or (5 if args.quick else 60)
    if not (1 <= args.trips <= 60 and 2 <= args.travellers <= 8):
        parser.error("--trips 1..60, --travellers 2..8")
    return args


def django_setup(database_url: str, stripe: dict) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    for name, value in stripe.items():
        os.environ[name] = str(value)
    import django

    django.setup()


def big_vehicle():
    from booking.services import vehicle_import
    from tests import factories

    # One first-class row and a second-class coach of 120 rows × 4: 480 seats.
    data = factories.small_seat_map("bench-disruption", first_rows=1, second_rows=120)
    return vehicle_import(data=data)[0]


def book(sandbox, *, departures, travellers: int, fares: dict | None = None):
    """One trip of ``travellers`` on ``departures[0]``, booked through the real path, the
    organiser paying every share with one card."""
    from booking import plan
    from payments import services, tasks
    from payments.models import Share
    from tests import factories

    organiser = factories.user("Olivia")
    trip = factories.trip(organiser=organiser, days_ahead=3)
    people = [organiser] + [factories.member(trip, f"Friend {n}") for n in range(1, travellers)]
    plan.poll_propose(
        trip_id=trip.pk, by=organiser, leg="outbound", departure_ids=[d.pk for d in departures]
    )
    plan.poll_settle(trip_id=trip.pk, by=organiser, leg="outbound", departure_id=departures[0].pk)
    for person in people if fares else []:
        plan.fare_choose(trip_id=trip.pk, user=person, leg="outbound", **fares)
    plan.sit_together(trip_id=trip.pk, user=organiser, leg="outbound")
    checkout = services.checkout_start(trip_id=trip.pk, by=organiser)
    services.payment_start(
        checkout_id=checkout.pk,
        payer=organiser,
        share_ids=list(Share.objects.filter(checkout=checkout).values_list("pk", flat=True)),
        payment_method=sandbox.card_payment_method(),
    )
    tasks.checkout_confirmations()
    checkout.refresh_from_db()
    assert checkout.state == "confirmed", checkout.state
    return trip, people


def setup(sandbox, trips: int, travellers: int, floor_trips: int = 2):
    from django.utils import timezone

    from booking.models import Station
    from tests import factories

    factories.passenger_types()
    factories.discount_cards()
    factories.trip()  # the two stations
    origin, destination = Station.objects.get(code="FRPLY"), Station.objects.get(code="FRLPD")
    day = timezone.localdate() + dt.timedelta(days=3)
    vehicle = big_vehicle()

    def train(hour):
        return factories.departure(
            origin=origin,
            destination=destination,
            vehicle_obj=vehicle,
            departs_at=timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 7))),
        )

    cancelled, other, floor_train = train(8), train(10), train(12)
    booked = [
        book(sandbox, departures=[cancelled, other], travellers=travellers) for _ in range(trips)
    ]
    floor_trips = [
        book(sandbox, departures=[floor_train, other], travellers=travellers, fares=FLEX)
        for _ in range(floor_trips)
    ]
    return cancelled, booked, floor_trips


def floor(floor_trips) -> float:
    from booking.models import Ticket
    from payments import services

    times = []
    for trip, people in floor_trips:
        for person in people:
            ticket = Ticket.objects.get(booking__trip=trip, traveller=person)
            t0 = time.perf_counter()
            result = services.ticket_cancel(ticket_id=ticket.pk, by=person)
            times.append(time.perf_counter() - t0)
            assert result.refund is not None and result.refund.state == "succeeded"
    return 1000 * sum(times) / len(times)


def choose_all(booked) -> None:
    from booking.models import Ticket
    from payments.disruptions import disruption_refund_choose

    for trip, people in booked:
        for person in people:
            ticket = Ticket.objects.get(booking__trip=trip, traveller=person, state="valid")
            disruption_refund_choose(ticket_id=ticket.pk, by=person, send=False)


def bulk_in_process(cancelled, booked) -> float:
    from booking import disruptions
    from payments.disruptions import disruption_refunds_send

    t0 = time.perf_counter()
    disruptions.departure_cancel(departure_id=cancelled.pk, reason="bench")
    while disruptions.disruptions_apply():
        pass
    t1 = time.perf_counter()
    choose_all(booked)
    t2 = time.perf_counter()
    while disruption_refunds_send():
        pass
    t3 = time.perf_counter()
    print(
        f"trips applied {t1 - t0:.2f} s, choices {t2 - t1:.2f} s, refunds at Stripe {t3 - t2:.2f} s"
    )
    return t3 - t0


def worker_start(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(check, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the worker")
        time.sleep(0.2)


def bulk_with_worker(cancelled, booked, env: dict, tickets: int) -> tuple[float, int]:
    """The worker does the trips and the refunds; it is killed once about half the
    refunds are done, and another is started. Returns (seconds, kills)."""
    from django.db import connection

    from booking import disruptions
    from booking.models import DisruptedTrip
    from payments.models import Refund

    env = {**env, "WORKER_INTERVAL_SECONDS": "0.5"}
    worker = worker_start(env)
    t0 = time.perf_counter()
    disruptions.departure_cancel(departure_id=cancelled.pk, reason="bench")
    wait_for(lambda: not DisruptedTrip.objects.filter(state="pending").exists())

    # The travellers choose (another thread, its own connection) while the worker sends
    # the refunds; the worker is killed once about half are done.
    def travellers() -> None:
        try:
            choose_all(booked)
        finally:
            connection.close()

    choosing = threading.Thread(target=travellers)
    choosing.start()

    def succeeded() -> int:
        return Refund.objects.filter(reason="train_cancelled", state="succeeded").count()

    wait_for(lambda: succeeded() >= tickets // 2)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_at = succeeded()
    choosing.join()
    worker = worker_start(env)
    try:
        wait_for(lambda: succeeded() >= tickets)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    print(f"worker killed with {killed_at}/{tickets} refunds done; a new one finished them")
    return time.perf_counter() - t0, 1


def checks(sandbox, booked) -> dict:
    from booking.models import Ticket
    from payments.models import Payment, Refund

    trip_ids = [trip.pk for trip, _people in booked]
    tickets = Ticket.objects.filter(booking__trip_id__in=trip_ids)
    refunded = sum(
        1 for t in tickets if t.refunded_cents == t.price_cents and t.state == "cancelled"
    )
    double = 0
    for payment in Payment.objects.filter(checkout__trip_id__in=trip_ids, state="captured"):
        status, listed = sandbox.request(
            "GET", "/v1/refunds", {"payment_intent": payment.stripe_payment_intent_id, "limit": 100}
        )
        assert status == 200, listed
        at_stripe = [
            r for r in listed["data"] if r["payment_intent"] == payment.stripe_payment_intent_id
        ]
        ours = Refund.objects.filter(payment=payment, state="succeeded").count()
        double += max(0, len(at_stripe) - ours)
        if sum(r["amount"] for r in at_stripe) > payment.amount_cents:
            double += 1
    return {"tickets": tickets.count(), "refunded": refunded, "double_refunds": double}


def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    from sandboxes.stripe_server import StripeSandbox

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    migrated = harness.postgres_database_from_template(database_url)
    sandbox = StripeSandbox().start()
    try:
        django_setup(database_url, sandbox.settings())
        if not migrated:
            from django.core.management import call_command
            from django.db import connections

            call_command("migrate", verbosity=0)
            # A template is copied from a database nobody is in: the pool's connections too.
            connections.close_all()
            connections["default"].close_pool()
            harness.postgres_template_save(database_url)
        print(f"database migrated at {time.perf_counter() - started:.1f} s")
        t0 = time.perf_counter()
        cancelled, booked, floor_trips = setup(
            sandbox, args.trips, args.travellers, floor_trips=1 if args.quick else 2
        )
        tickets = args.trips * args.travellers
        print(f"set-up: {tickets} tickets booked in {time.perf_counter() - t0:.1f} s")
        floor_ms = floor(floor_trips)
        if args.kill:
            seconds, kills = bulk_with_worker(cancelled, booked, dict(os.environ), tickets)
        else:
            seconds, kills = bulk_in_process(cancelled, booked), 0
        per_ticket_ms = 1000 * seconds / tickets
        found = checks(sandbox, booked)
    finally:
        sandbox.stop()
    result = {
        **found,
        "per_ticket_ms": round(per_ticket_ms, 2),
        "floor_per_ticket_ms": round(floor_ms, 2),
        "ratio": round(per_ticket_ms / floor_ms, 3),
        "worker_kills": kills,
        "trips": args.trips,
        # The whole run, set-up included (--quick: under a minute).
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(
        f"bulk {per_ticket_ms:.1f} ms/ticket, floor {floor_ms:.1f} ms/ticket "
        f"(ratio {result['ratio']}, target ≤ 1)"
    )
    print(json.dumps(result))
    ok = found["refunded"] == found["tickets"] and found["double_refunds"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
