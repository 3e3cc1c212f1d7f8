"""The outbox's sending rate through SMTP, against Django's SMTP backend alone; and a run
with the sending worker killed midway.

    .venv/bin/python bench/outbox.py --quick     # 100 trips × 8 travellers
    .venv/bin/python bench/outbox.py             # 1,000 trips × 8 travellers
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_outbox \\
      .venv/bin/python bench/outbox.py --postgres

Steps (Django set up in this process on the bench database: a SQLite file in a temporary
folder, or with ``--postgres`` the database of ``BENCH_DATABASE_URL``, default
``.../bench_outbox``, dropped and created; only a database named bench* is dropped):

1. The local SMTP server (``sandboxes/mail_server.py``, aiosmtpd) in a child process,
   keeping what it receives in a Maildir.
2. ``trips × travellers`` accounts; for each trip, in one transaction, the outbox queues
   the bench's "checkout started" message to its travellers
   (``notices.services.message_queue``): ``queued``.
3. A sending worker in a child process (``bench/outbox.py --send``: Django set up, the
   bench kind registered, ``notices.sending.messages_send`` until nothing is due) sends
   them: ``msgs_per_s`` (its own sending time, without its start-up). Each e-mail is the
   payments' real "checkout started" template (HTML with inlined CSS, and text),
   rendered by the worker.
4. The floor: the same number of e-mails, rendered beforehand, sent straight through
   Django's SMTP backend on one connection from this process: ``floor_msgs_per_s``;
   ``ratio = msgs_per_s / floor_msgs_per_s`` (target ≥ 0.5).
5. The kill: as many messages again are queued; a sending worker is killed (SIGKILL) once
   about half of them are sent, and a second one started to finish. The Maildir is read:
   ``lost`` (queued, never received) and ``duplicates`` (received twice: same
   Message-ID), for both runs (targets 0 and 0). A kill between the SMTP server's
   "accepted" and the worker's "sent" sends that message again: the outbox is at least
   once, and its Message-IDs (one per row) let a receiver tell; ``duplicates`` counts
   such repeats as received.

Ends with one JSON line.
"""

import argparse
import json
import mailbox
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_outbox"
KIND = "bench.checkout_started"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 trips, under a minute")
    parser.add_argument("--trips", type=int, help="trips (default 1,000; --quick 100)")
    parser.add_argument("--travellers", type=int, default=8)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (BENCH_DATABASE_URL)")
    parser.add_argument("--send", action="store_true", help=argparse.SUPPRESS)  # the worker
    return parser.parse_args(argv)


def django_setup(database_url: str, email_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["EMAIL_URL"] = email_url
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from notices import kinds

    kinds.register(KIND, object_type="bench.trip", render=render)


def _context(message_pk: int) -> dict:
    from types import SimpleNamespace

    share = SimpleNamespace(amount_cents=4250 + message_pk % 900, credit_cents=0, currency="EUR")
    return {
        "name": f"Traveller {message_pk}",
        "trip_title": "Paris → Lyon, concert weekend",
        "share": share,
        "deadline": "8 décembre 2026 18:00",
        "policy": "go_ahead",
        "pay_url": f"http://127.0.0.1:8000/pay/bench-{message_pk}/",
        "trip_url": "http://127.0.0.1:8000/trips/1/",
    }


def render(message):
    from notices.emails import email_render

    return email_render("payments/email/checkout_started", _context(message.pk))


def send_worker() -> None:
    """The child: send until nothing is due; print what it sent and how long it took."""
    django_setup(os.environ["BENCH_DATABASE_URL_CHILD"], os.environ["BENCH_EMAIL_URL"])
    from notices.sending import messages_send

    started = time.perf_counter()
    sent = 0
    while handled := messages_send(limit=200):
        sent += handled
    print(json.dumps({"sent": sent, "seconds": time.perf_counter() - started}), flush=True)


def queue(trips: int, travellers: int, first_object: int) -> int:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from notices.services import message_queue

    user_model = get_user_model()
    users = list(user_model.objects.order_by("pk").values_list("pk", flat=True))
    queued = 0
    for trip in range(trips):
        group = users[trip * travellers : (trip + 1) * travellers]
        with transaction.atomic():  # as checkout_start does, in its own transaction
            queued += message_queue(
                kind=KIND, object_id=first_object + trip, recipient_ids=group, trip_id=trip
            )
    return queued


def worker_start(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--send"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def received(maildir: Path) -> Counter:
    box = mailbox.Maildir(maildir, create=False)
    return Counter(message["Message-ID"] for message in box if message["X-Bench"] != "floor")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.send:
        send_worker()
        return
    trips = args.trips or (100 if args.quick else 1000)
    work = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    if args.postgres:
        database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
        harness.recreate_postgres_database(database_url)
    else:
        database_url = f"sqlite:///{work / 'bench.sqlite3'}"
    maildir = work / "mailbox"
    port = harness.free_port()
    smtp = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandboxes.mail_server",
            "--port",
            str(port),
            "--maildir",
            str(maildir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    smtp.stdout.readline()  # EMAIL_URL=… once it listens
    email_url = f"smtp://127.0.0.1:{port}"
    try:
        django_setup(database_url, email_url)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        people = trips * args.travellers
        get_user_model().objects.bulk_create(
            [
                get_user_model()(username=f"bench{n}", email=f"bench{n}@example.test")
                for n in range(people)
            ],
            batch_size=1000,
        )
        env = {
            **os.environ,
            "BENCH_DATABASE_URL_CHILD": database_url,
            "BENCH_EMAIL_URL": email_url,
        }

        t0 = time.perf_counter()
        queued = queue(trips, args.travellers, first_object=0)
        queue_seconds = time.perf_counter() - t0
        harness.log(f"queued {queued} messages in {queue_seconds:.1f} s")

        worker = worker_start(env)
        out, _ = worker.communicate(timeout=3600)
        run = json.loads(out.strip().splitlines()[-1])
        msgs_per_s = run["sent"] / run["seconds"]
        harness.log(f"outbox: {run['sent']} sent in {run['seconds']:.1f} s")

        floor_per_s = floor(queued)
        harness.log(f"floor: {floor_per_s:.0f} msgs/s")

        # The kill: a worker killed midway, another started.
        from notices.models import Message

        second = queue(trips, args.travellers, first_object=trips)
        target = queued + second // 2
        worker = worker_start(env)
        while Message.objects.filter(state="sent").count() < target and worker.poll() is None:
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed_at = Message.objects.filter(state="sent").count() - queued
        harness.log(f"worker killed after {killed_at} of {second}")
        # The messages it had claimed are due again after the backoff: the next worker
        # runs once they are (as the real worker, looping, would).
        Message.objects.filter(state="queued").update(next_attempt_at=time_now())
        worker = worker_start(env)
        worker.communicate(timeout=3600)

        counts = received(maildir)
        expected = queued + second
        rows = set(Message.objects.values_list("pk", flat=True))
        ids = {f"<message-{pk}@localhost>" for pk in rows}
        lost = len(ids - set(counts))
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        sent = Message.objects.filter(state="sent").count()
        result = {
            "trips": trips,
            "travellers": args.travellers,
            "database": "postgresql" if args.postgres else "sqlite",
            "queued": expected,
            "sent": sent,
            "duplicates": duplicates,
            "lost": lost,
            "queue_msgs_per_s": harness.rounded(queued / queue_seconds, 0),
            "msgs_per_s": harness.rounded(msgs_per_s, 0),
            "floor_msgs_per_s": harness.rounded(floor_per_s, 0),
            "ratio": harness.rounded(msgs_per_s / floor_per_s, 2),
            "killed_after": killed_at,
            "machine": harness.machine(),
        }
        harness.print_json_line(result)
    finally:
        smtp.terminate()
        smtp.wait(timeout=10)


def time_now():
    from django.utils import timezone

    return timezone.now()


def floor(count: int) -> float:
    """The same e-mails, rendered beforehand, straight through Django's SMTP backend."""
    from django.core.mail import EmailMultiAlternatives, mailers

    from notices.emails import email_render

    mails = []
    for n in range(count):
        content = email_render("payments/email/checkout_started", _context(n))
        mail = EmailMultiAlternatives(
            subject=content.subject,
            body=content.text,
            to=[f"bench{n}@example.test"],
            headers={"X-Bench": "floor"},
        )
        mail.attach_alternative(content.html, "text/html")
        mails.append(mail)
    mailer = mailers.default
    started = time.perf_counter()
    mailer.open()
    try:
        for mail in mails:
            mailer.send_messages([mail])
    finally:
        mailer.close()
    return count / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
