"""Locks in the documented order (core/locking.py) on PostgreSQL: the worker expiring
holds locks their trips first, as a pick does, and skips a trip that is busy until its
next pass.

It used to lock the expired holds first and then wait for their trip, while a pick held
the trip and waited for its own expired hold: PostgreSQL found the deadlock and failed
one of them (the pick answered ``server_error``). The race is made deterministic by
holding the trip's row lock from a connection of the test until both sides are queued.

Needs PostgreSQL (DATABASE_URL): real row locks and several connections; SQLite
serialises every writer, so there is no race to prove there.
"""

import datetime as dt
import threading

import pytest
from django.db import connections
from django.utils import timezone

from booking import plan
from booking.models import Seat, SeatAllocation, TripEvent, TripPresence
from tests import factories
from tests.pg import on_postgres, row_locked, wait_for_lock_waiters

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not on_postgres, reason="needs PostgreSQL (DATABASE_URL): row locks, several connections"
    ),
    pytest.mark.django_db(transaction=True),
]


class Worker(threading.Thread):
    """Runs ``func`` on a database connection of its own; keeps its result or error."""

    def __init__(self, func):
        super().__init__(daemon=True)
        self.func, self.result, self.error = func, None, None

    def run(self):
        try:
            self.result = self.func()
        except Exception as error:  # kept for the test's assertions
            self.error = error
        finally:
            connections.close_all()


def a_traveller_with_an_expired_hold():
    trip, (_olivia, ana), (early, _late) = factories.planned_trip(travellers=2)
    first, second = Seat.objects.filter(
        coach__vehicle=early.vehicle, comfort_class="second"
    ).order_by("coach__number", "number")[:2]
    plan.seat_pick(
        trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=first.pk
    )
    expired = SeatAllocation.objects.get(user=ana, state="held")
    SeatAllocation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    trip.refresh_from_db()
    return trip, ana, early, expired, second


def test_a_pick_and_the_expiry_worker_on_the_same_trip_never_deadlock():
    trip, ana, early, expired, second = a_traveller_with_an_expired_hold()
    pick = Worker(
        lambda: plan.seat_pick(
            trip_id=trip.pk, user=ana, leg="outbound", departure_id=early.pk, seat_id=second.pk
        )
    )
    expiry = Worker(plan.holds_expire)

    with row_locked(trip):
        pick.start()  # queues for the trip first
        wait_for_lock_waiters(1)
        expiry.start()  # then the worker: its trip is busy
        wait_for_lock_waiters(2, until=lambda: not expiry.is_alive())
    pick.join(timeout=20)
    expiry.join(timeout=20)

    assert not pick.is_alive() and not expiry.is_alive()
    assert pick.error is None, pick.error
    assert expiry.error is None, expiry.error
    assert expiry.result == 0  # the busy trip waits for the next pass
    assert pick.result.kind == "seat_held"
    assert pick.result.payload["released"] == [
        {"departure_id": early.pk, "seat_id": expired.seat_id, "user_id": ana.pk}
    ]
    assert list(SeatAllocation.objects.filter(state="held").values_list("user", "seat")) == [
        (ana.pk, second.pk)
    ]
    assert plan.holds_expire() == 0  # the expired hold went with the pick


def test_the_expiry_worker_skips_a_busy_trip_and_releases_its_holds_at_the_next_pass():
    trip, ana, _early, expired, _second = a_traveller_with_an_expired_hold()
    worker = Worker(plan.holds_expire)

    with row_locked(trip):
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "the worker waited for a busy trip"
        assert worker.error is None, worker.error
        assert worker.result == 0
        assert SeatAllocation.objects.get(pk=expired.pk).state == "held"

    assert plan.holds_expire() == 1
    assert SeatAllocation.objects.get(pk=expired.pk).state == "released"
    event = TripEvent.objects.filter(trip=trip).latest("version")
    assert event.kind == "holds_expired"
    assert event.payload["released"][0]["user_id"] == ana.pk


def test_keeping_holds_alive_skips_a_busy_trip_instead_of_waiting_for_it():
    trip, ana, _early, _expired, _second = a_traveller_with_an_expired_hold()
    hold = SeatAllocation.objects.get(user=ana, state="held")
    soon = timezone.now() + dt.timedelta(seconds=5)
    SeatAllocation.objects.filter(pk=hold.pk).update(expires_at=soon)
    TripPresence.objects.create(
        channel_name="test.busy", trip=trip, user=ana, last_seen_at=timezone.now()
    )
    worker = Worker(plan.holds_keep_alive)

    with row_locked(trip):
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "the worker waited for a busy trip"
        assert (worker.error, worker.result) == (None, 0)

    assert plan.holds_keep_alive() == 1
    assert SeatAllocation.objects.get(pk=hold.pk).expires_at > soon
