"""The worker: each loop records a heartbeat and runs the registered jobs that are due; a
failing job is logged and the others still run.

The command calls ``close_old_connections()`` on every loop, as a long-running process
must; inside a test transaction that would drop the connection, so the tests that run the
command use a transactional database."""

import logging
import os
import signal
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from core import jobs
from core.models import WorkerHeartbeat
from core.services import jobs_run_due, worker_heartbeat


@pytest.fixture
def registry(monkeypatch):
    """An empty job registry for the test; the apps' own jobs are put back afterwards."""
    monkeypatch.setattr(jobs, "_registry", {})
    return jobs


def _counting_job(calls: list, name: str, handled: int = 1):
    def job() -> int:
        calls.append(name)
        return handled

    return job


@pytest.mark.django_db(transaction=True)
def test_worker_once_records_a_heartbeat_and_runs_every_registered_job(registry):
    calls: list[str] = []
    registry.register("expire-holds", _counting_job(calls, "expire-holds", 3), every_seconds=60)
    registry.register("deadlines", _counting_job(calls, "deadlines", 0), every_seconds=3600)
    out = StringIO()

    call_command("worker", "--once", stdout=out)

    assert sorted(calls) == ["deadlines", "expire-holds"]
    beat = WorkerHeartbeat.objects.get()
    assert beat.loops == 1
    assert beat.last_seen_at >= beat.started_at
    output = out.getvalue()
    assert "expire-holds: 3" in output
    assert "deadlines:" not in output  # nothing handled, nothing said
    assert "stopped" in output


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_is_logged_and_the_other_jobs_still_run(registry, caplog):
    calls: list[str] = []

    def boom() -> int:
        calls.append("boom")
        raise RuntimeError("the payment provider is down")

    registry.register("a-boom", boom, every_seconds=1)
    registry.register("b-after", _counting_job(calls, "b-after"), every_seconds=1)
    out = StringIO()

    with caplog.at_level(logging.ERROR, logger="core.services"):
        call_command("worker", "--once", stdout=out)

    assert calls == ["boom", "b-after"]
    [record] = [r for r in caplog.records if r.name == "core.services"]
    assert "a-boom" in record.getMessage()
    assert record.exc_info and record.exc_info[0] is RuntimeError
    assert WorkerHeartbeat.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_gives_back_the_signal_handlers_it_took(registry):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    call_command("worker", "--once", stdout=StringIO())

    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_jobs_run_when_their_interval_has_passed_and_not_before(registry):
    calls: list[str] = []
    registry.register("fast", _counting_job(calls, "fast"), every_seconds=10)
    registry.register("slow", _counting_job(calls, "slow"), every_seconds=60)
    last_run: dict[str, float] = {}

    assert jobs_run_due(last_run=last_run, now=1000.0) == {"fast": 1, "slow": 1}
    assert jobs_run_due(last_run=last_run, now=1009.9) == {}
    assert jobs_run_due(last_run=last_run, now=1010.0) == {"fast": 1}
    assert jobs_run_due(last_run=last_run, now=1059.0) == {"fast": 1}
    assert jobs_run_due(last_run=last_run, now=1060.0) == {"slow": 1}  # fast ran at 1059
    assert calls == ["fast", "slow", "fast", "fast", "slow"]


def test_a_failed_job_waits_for_its_next_turn_like_any_other(registry):
    attempts: list[float] = []

    def flaky() -> int:
        attempts.append(1)
        raise ValueError("not yet")

    registry.register("flaky", flaky, every_seconds=30)
    last_run: dict[str, float] = {}

    assert jobs_run_due(last_run=last_run, now=0.0) == {"flaky": -1}
    assert jobs_run_due(last_run=last_run, now=10.0) == {}
    assert jobs_run_due(last_run=last_run, now=30.0) == {"flaky": -1}
    assert len(attempts) == 2


@pytest.mark.django_db
def test_each_heartbeat_moves_the_last_seen_time_and_counts_the_loop():
    started = timezone.now()
    worker_heartbeat(name="host:42", started_at=started)
    first = WorkerHeartbeat.objects.get(name="host:42")
    worker_heartbeat(name="host:42", started_at=started)
    worker_heartbeat(name="host:42", started_at=started)
    beat = WorkerHeartbeat.objects.get(name="host:42")

    assert beat.loops == 3
    assert beat.last_seen_at >= first.last_seen_at
    assert beat.started_at == started
    assert WorkerHeartbeat.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_wake_after_commit_runs_the_job_at_once_not_at_the_next_round(registry):
    """``jobs.wake`` sends NOTIFY after the commit; the worker, waiting on LISTEN between
    rounds 30 s apart, runs the job asked for within moments (its own interval: an hour)."""
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite the worker polls its interval")
    runs: list[float] = []
    registry.register("wake-me", lambda: runs.append(time.monotonic()) or 1, every_seconds=3600)
    woken_at: list[float] = []

    def wake_then_stop():
        try:
            deadline = time.monotonic() + 20
            while not runs and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # the worker is waiting by now
            with transaction.atomic():
                registry.wake("wake-me")
                time.sleep(0.3)  # not before the commit
                woken_at.append(time.monotonic())
            while len(runs) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            connection.close()
            os.kill(os.getpid(), signal.SIGINT)  # the worker's own handler: it stops

    helper = threading.Thread(target=wake_then_stop)
    helper.start()
    call_command("worker", "--interval", "30", stdout=StringIO())
    helper.join()

    assert len(runs) == 2, "the wake did not run the job"
    assert runs[1] > woken_at[0]  # after the commit, not at the NOTIFY's call
    assert runs[1] - woken_at[0] < 2  # not the 30 s round


@pytest.mark.django_db(transaction=True)
def test_a_wake_in_a_transaction_rolled_back_sends_nothing(registry):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite a wake does nothing")
    listener = jobs.Listener()
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            registry.wake("wake-me")
            raise RuntimeError("rolled back")
        assert listener.wait(0.5) == set()
        with transaction.atomic():
            registry.wake("wake-me")
        assert listener.wait(5) == {"wake-me"}
    finally:
        listener.close()


def test_a_job_asked_for_runs_first_and_one_asked_meanwhile_runs_next(registry):
    """A wake runs its job before the other due ones, and a job asked for while a round is
    under way (a booking confirmation queued while e-mails are being sent) runs right
    after the job in progress, not after every other due job; at most once more a round."""
    calls: list[str] = []
    asked_during: list[set[str]] = [set(), {"confirm"}, set(), {"confirm"}, set()]

    def asked_meanwhile() -> set[str]:
        return asked_during.pop(0) if asked_during else set()

    for name in ("a-mail", "b-expire", "confirm", "d-deadline"):
        registry.register(name, _counting_job(calls, name), every_seconds=60)
    last_run = {"confirm": 1000.0}  # ran a moment ago: not due by its interval

    handled = jobs_run_due(
        last_run=last_run, now=1001.0, asked=["confirm"], asked_meanwhile=asked_meanwhile
    )

    # asked first; asked again after a-mail: next, before b-expire; a third time: not again.
    assert calls == ["confirm", "a-mail", "confirm", "b-expire", "d-deadline"]
    assert handled == {"confirm": 2, "a-mail": 1, "b-expire": 1, "d-deadline": 1}
    assert jobs_run_due(last_run=last_run, now=1002.0) == {}
