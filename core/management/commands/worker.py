import os
import signal
import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from core import jobs
from core.services import jobs_run_due, worker_heartbeat


class Command(BaseCommand):
    help = (
        "Run due background jobs (hold expiry, payment deadlines, …) in a loop. "
        "Safe to run several at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.SIDEBYSIDE["WORKER_INTERVAL_SECONDS"],
            help="Seconds between loops.",
        )

    def handle(self, *args, once=False, interval=2.0, **options):
        name = f"{socket.gethostname()}:{os.getpid()}"
        started_at = timezone.now()
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        # Restored on the way out: the command also runs in-process (call_command, tests),
        # where it must not leave Ctrl-C ignored for the rest of the process.
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        listener = None if once else jobs.Listener()
        try:
            last_run: dict[str, float] = {}
            woken: set[str] = set()
            self.stdout.write(f"worker {name} started")
            while not stopping:
                close_old_connections()
                worker_heartbeat(name=name, started_at=started_at)
                handled = jobs_run_due(
                    last_run={} if once else last_run,
                    asked=woken,
                    asked_meanwhile=listener.asked if listener is not None else None,
                )
                woken = set()
                for job_name, count in handled.items():
                    if count:
                        self.stdout.write(f"{job_name}: {count}")
                if once:
                    break
                # Wait for a wake (jobs.wake, PostgreSQL) or the interval, in short steps
                # so a signal stops the worker promptly. A job asked for runs at once.
                deadline = time.monotonic() + interval
                while not stopping and time.monotonic() < deadline:
                    woken = listener.wait(min(0.2, interval))
                    if woken:
                        break
            self.stdout.write(f"worker {name} stopped")
        finally:
            if listener is not None:
                listener.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
