"""PostgreSQL helpers for tests of locks and concurrency: the test database's URL, a row
lock held from a connection of its own, and how many sessions wait for a lock."""

import contextlib
import time
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connection

on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's ``test_<name>``)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


test_database_url.__test__ = False  # a helper, not a test


@contextlib.contextmanager
def row_locked(instance):
    """Hold ``instance``'s row lock from a connection of its own, idle in its transaction
    until the block ends (then rolled back): what a process frozen inside a transaction
    looks like to everyone else. Needs committed rows (``transaction=True`` tests)."""
    table = connection.ops.quote_name(instance._meta.db_table)
    with psycopg.connect(test_database_url()) as holder:
        holder.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [instance.pk])
        yield holder
        holder.rollback()


def sessions(condition: str) -> int:
    """How many sessions of the test database match ``condition`` (of pg_stat_activity)."""
    with psycopg.connect(test_database_url(), autocommit=True) as watcher:
        return watcher.execute(
            "SELECT count(*) FROM pg_stat_activity"
            f" WHERE datname = current_database() AND {condition}"
        ).fetchone()[0]


def lock_waiters() -> int:
    """How many sessions of the test database wait for a lock right now."""
    return sessions("wait_event_type = 'Lock'")


def wait_for_lock_waiters(count: int, *, timeout: float = 10, until=lambda: False) -> None:
    """Until ``count`` sessions wait for a lock (or ``until()`` is true)."""
    deadline = time.monotonic() + timeout
    while lock_waiters() < count and not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} sessions waiting for a lock")
        time.sleep(0.02)
