"""The slow work of payments, run by the worker off any request (docs/payments.md,
"Work off the request"). Registered as jobs in ``payments.apps``.

The queue is the rows themselves: a ``StripeEvent`` not handled yet, a ``Checkout`` in
``confirming``. Each is written in the same transaction as the change that calls for the
work, so no task is lost between a commit and a queue, and there is no second record that
could disagree with the first. A row is claimed with ``select_for_update(skip_locked=
True)`` and its next time set before the work runs (a lease: a worker that dies mid-way
leaves it to another after that time), so several workers never take the same row; a
failure leaves that time in place, doubling at each attempt (backoff). Every step is
idempotent (Stripe writes carry keys from our ids), so running a task twice changes
nothing.

- ``stripe_events_handle``: each stored webhook event is handled (``webhooks.
  stripe_event_handle``: the PaymentIntent read again, the payment moved forward).
- ``checkout_confirmations``: each queued confirmation runs (``services.checkout_confirm``:
  every authorisation checked, captured, seats sold, tickets issued).
- ``payment_starts_expire``: a payment started but not authorised in time frees its
  shares (``services.payment_start_expire``).
"""

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from payments import services, webhooks
from payments.models import Checkout, Payment, StripeEvent

logger = logging.getLogger(__name__)

# A webhook event's first retry; each next one waits twice as long, up to RETRY_MAX.
EVENT_RETRY = dt.timedelta(seconds=10)
RETRY_MAX = dt.timedelta(hours=1)


def retry_delay(attempts: int, first: dt.timedelta) -> dt.timedelta:
    """How long after its ``attempts``-th start (1, 2, …) a task is taken again if it has
    not finished: ``first``, then doubling, at most ``RETRY_MAX``."""
    return min(first * 2 ** max(attempts - 1, 0), RETRY_MAX)


def stripe_events_handle(*, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Handle the stored webhook events that are due, oldest first. Returns how many were
    handled (a failed one is counted out and taken again after its backoff)."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            StripeEvent.objects.select_for_update(skip_locked=True)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .filter(handled_at=None)
            .order_by("received_at", "pk")[:limit]
        )
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + retry_delay(row.attempts, EVENT_RETRY)
            row.save(update_fields=["attempts", "next_attempt_at"])
    handled = 0
    for row in rows:
        try:
            webhooks.stripe_event_handle(row)
            handled += 1
        except Exception:
            logger.warning(
                "webhook event %s (%s) failed, attempt %s: again at %s",
                row.event_id,
                row.type,
                row.attempts,
                row.next_attempt_at,
                exc_info=True,
            )
    return handled


def checkout_confirmations(*, now: dt.datetime | None = None, limit: int = 20) -> int:
    """Run the confirmations that are due: queued ones at once, one whose worker died
    after its lease, a failed one after its backoff. Returns how many ran to the end
    (confirmed, or reopened because an authorisation fell).

    Up to ``PAYMENT_CONFIRM_THREADS`` run at once (each mostly waits for Stripe): safe,
    as each claims its own row with ``skip_locked`` and is idempotent. Only on PostgreSQL
    outside a transaction: a thread has its own connection, which would not see rows not
    committed yet (tests), and SQLite writes one at a time anyway."""
    now = now or timezone.now()
    due = list(
        Checkout.objects.filter(state=Checkout.State.CONFIRMING)
        .filter(Q(confirm_after__isnull=True) | Q(confirm_after__lte=now))
        .order_by("confirm_after", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    threads = min(settings.SIDEBYSIDE["PAYMENT_CONFIRM_THREADS"], len(due))
    if threads <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return sum(_checkout_confirm_claimed(checkout_id, now) for checkout_id in due)

    def confirm_in_thread(checkout_id: int) -> bool:
        try:
            return _checkout_confirm_claimed(checkout_id, now)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="confirm") as pool:
        return sum(pool.map(confirm_in_thread, due))


def _checkout_confirm_claimed(checkout_id: int, now: dt.datetime) -> bool:
    """Claim one due confirmation (its lease set first) and run it. False when another
    worker has it or it failed (taken again after its backoff)."""
    with transaction.atomic():
        claimed = (
            Checkout.objects.select_for_update(skip_locked=True)
            .filter(pk=checkout_id, state=Checkout.State.CONFIRMING)
            .filter(Q(confirm_after__isnull=True) | Q(confirm_after__lte=now))
            .first()
        )
        if claimed is None:
            return False  # another worker has it
        claimed.confirm_attempts += 1
        claimed.confirm_after = now + retry_delay(claimed.confirm_attempts, services.CONFIRM_LEASE)
        claimed.save(update_fields=["confirm_attempts", "confirm_after", "updated_at"])
    try:
        services.checkout_confirm(checkout_id=checkout_id)
        return True
    except Exception:
        logger.warning(
            "confirmation of checkout %s failed, attempt %s: again at %s",
            checkout_id,
            claimed.confirm_attempts,
            claimed.confirm_after,
            exc_info=True,
        )
        return False


def payment_starts_expire(*, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Payments started but not authorised within ``PAYMENT_START_TIMEOUT_SECONDS`` (no
    card given, a tab closed before the card, a bank check never finished) free their
    shares, so one payer, or a forwarded pay link, cannot hold a whole group until the
    deadline. Returns how many it freed."""
    now = now or timezone.now()
    timeout = dt.timedelta(seconds=settings.SIDEBYSIDE["PAYMENT_START_TIMEOUT_SECONDS"])
    stale = Payment.objects.filter(
        state__in=services.PENDING_PAYMENT_STATES,
        created_at__lte=now - timeout,
        checkout__state__in=services.OPEN_STATES,
    ).order_by("created_at", "pk")
    freed = 0
    for payment_id in stale.values_list("pk", flat=True)[:limit]:
        try:
            freed += services.payment_start_expire(payment_id=payment_id, now=now)
        except Exception:
            logger.warning("payment %s: expiry postponed", payment_id, exc_info=True)
    return freed
