"""Row locks by design: one order, rows sorted by id, and a bounded wait.

**The order.** A transaction that locks rows of several of these tables takes them in
this order, and the rows of one table sorted by id (``rows_lock``):

    Checkout → Payment → Share → Trip → TripLeg → SeatAllocation

- ``groups``: FriendGroup → Membership. A group's writes lock no trip, with one
  exception: ending a traveller's membership (leave, removal) asks the higher apps inside
  its transaction (``groups.signals.membership_ending``), and payments then locks the
  group's trips, by id, after the group (FriendGroup → Trip: nothing locks a trip and
  then its group). Everything else the booking side does for a group change comes after
  the group's commit (``booking.receivers``, trips by id).
- ``referrals``: a traveller's credit (Reward → RewardUse, by id) is locked under the
  share or checkout it pays for.
- Each app's own rows not named here (a departure, a ticket, a booking) come after the
  trip they belong to.

**Jobs that find rows first** (expired holds, holds to keep, due checkouts) must not lock
a child before its parent: a pick holds the trip and waits for the hold, the job would
hold the hold and wait for the trip — a deadlock, which PostgreSQL breaks by failing one
of them. Such a job reads the candidates without locks, locks their parents first with
``skip_locked`` (a busy parent waits for the job's next pass) and then the children, again
filtered under the lock.

**The wait is bounded.** On PostgreSQL every connection runs with ``lock_timeout``,
``statement_timeout`` and ``idle_in_transaction_session_timeout`` set by the settings
(``DATABASE_LOCK_TIMEOUT_SECONDS``, … in ``config/settings.py``): a process frozen inside
a transaction holds its locks for a bounded time, and anyone waiting behind it gives up
after the lock timeout. A lock not had in time (SQLSTATE ``55P03``, ``lock_not_available``:
the timeout, or ``NOWAIT``) becomes the domain error ``core.errors.Busy`` here, in one
place for every query and commit of every app (``LockNotAvailable``, a ``Busy`` that is
also Django's ``OperationalError``; installed on each PostgreSQL connection by
``core.apps``). It propagates out of the service's transaction (rolled back: nothing
written) and each door answers it as any domain error:
409 with ``Retry-After`` on REST, an error frame on the websocket, the message on a form,
503 to Stripe's webhook (it retries).
"""

import logging

from django.db import OperationalError
from django.db.utils import DatabaseErrorWrapper

from core.errors import Busy

logger = logging.getLogger(__name__)

LOCK_NOT_AVAILABLE = "55P03"


class LockNotAvailable(Busy, OperationalError):
    """A lock not had in time: to the doors the domain error ``Busy`` (``trip_busy``), to
    Django's transactions the database error it is (``atomic`` rolls back as for any
    other; the transaction was aborted by then anyway)."""


def rows_lock(queryset, *, skip_locked: bool = False) -> list:
    """Lock the rows of ``queryset`` (of its own table only, not of the tables it joins),
    in id order, inside the caller's transaction; returns them (model instances, or dicts
    for a ``values()`` queryset). With ``skip_locked``, rows another transaction holds are
    left out (for jobs: they come back at the next pass)."""
    return list(queryset.select_for_update(skip_locked=skip_locked, of=("self",)).order_by("pk"))


def ids_lock(queryset, *, skip_locked: bool = False) -> list[int]:
    """``rows_lock`` for the ids only."""
    return rows_lock(queryset.values_list("pk", flat=True), skip_locked=skip_locked)


class _LockTimeoutAsBusy(DatabaseErrorWrapper):
    """Django's translation of the driver's errors (every query, commit and savepoint
    goes through it), with PostgreSQL's ``lock_not_available`` made ``LockNotAvailable``.
    Not a query wrapper (``execute_wrapper``): a foreign key is checked at commit
    (Django makes them ``DEFERRABLE INITIALLY DEFERRED``), and that check waits for a
    locked row too."""

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_value is not None and getattr(exc_value, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            self.wrapper.errors_occurred = True
            logger.info("lock not had in time: %s", str(exc_value).splitlines()[0])
            raise LockNotAvailable().with_traceback(traceback) from exc_value
        return super().__exit__(exc_type, exc_value, traceback)


def lock_timeout_install(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: on PostgreSQL, the connection's errors go through
    ``_LockTimeoutAsBusy`` (once per connection object: it is reused across connects,
    from the pool or not)."""
    if connection.vendor == "postgresql" and not isinstance(
        connection.wrap_database_errors, _LockTimeoutAsBusy
    ):
        connection.wrap_database_errors = _LockTimeoutAsBusy(connection)
