"""A tiny registry of periodic jobs that the worker runs.

Apps register their jobs in ``AppConfig.ready()`` (``jobs.register(...)``), so the worker
knows no app by name and the import direction stays clean. A job must be idempotent and
safe to run in several workers at once: it picks due rows with
``select_for_update(skip_locked=True)`` (PostgreSQL) inside a transaction, so two workers
never handle the same row, and re-running it after a crash finds nothing left to do.
A job returns how many items it handled.

Waking: the worker runs its rounds ``WORKER_INTERVAL_SECONDS`` apart, but a service that
queues work calls ``wake(job_name)`` inside its transaction; on PostgreSQL this sends
``NOTIFY`` on ``WAKE_CHANNEL`` after the commit, and a worker waiting in ``Listener.wait``
runs that job at once. Elsewhere (SQLite) or when a notification is lost (the worker was
reconnecting), the interval remains the fallback.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

logger = logging.getLogger(__name__)

# The PostgreSQL channel the worker listens on; the payload is the name of a job to run.
WAKE_CHANNEL = "sidebyside_jobs"


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], int]
    every_seconds: float


_registry: dict[str, Job] = {}


def register(name: str, func: Callable[[], int], *, every_seconds: float) -> None:
    _registry[name] = Job(name=name, func=func, every_seconds=every_seconds)


def registered() -> list[Job]:
    return sorted(_registry.values(), key=lambda job: job.name)


def wake(job_name: str) -> None:
    """Ask the worker to run ``job_name`` now rather than at its next round: after the
    current transaction commits (nothing if it rolls back), on PostgreSQL only."""
    if connection.vendor != "postgresql":
        return

    def notify() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [WAKE_CHANNEL, job_name])
        except Exception:  # the work is queued in its rows: the interval takes it anyway
            logger.warning("could not wake the worker for %s", job_name, exc_info=True)

    transaction.on_commit(notify)


class Listener:
    """The worker's wait between rounds: ``LISTEN`` on its own connection (PostgreSQL),
    else a plain sleep. ``wait`` returns the names of the jobs asked for (empty on a
    timeout)."""

    def __init__(self) -> None:
        self._conn = None
        if connection.vendor == "postgresql":
            try:
                self._connect()
            except Exception:
                logger.warning("LISTEN unavailable, the worker polls", exc_info=True)

    def _connect(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        self._conn = psycopg.connect(**params, autocommit=True)
        self._conn.execute(f"LISTEN {WAKE_CHANNEL}")

    def wait(self, timeout: float) -> set[str]:
        if self._conn is None:
            import time

            time.sleep(timeout)
            return set()
        try:
            names = {n.payload for n in self._conn.notifies(timeout=timeout, stop_after=1)}
            if names:  # take the others that came with it, without waiting
                names |= {n.payload for n in self._conn.notifies(timeout=0)}
            return names
        except Exception:
            logger.warning("lost the LISTEN connection, reconnecting", exc_info=True)
            self.close()
            try:
                self._connect()
            except Exception:
                self._conn = None
            return set()

    def asked(self) -> set[str]:
        """The jobs asked for since the last look, without waiting (between two jobs of a
        round); nothing without LISTEN."""
        return self.wait(0) if self._conn is not None else set()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
