"""The payment deadline, carried out by the worker with nobody online (docs/design/
payments.md, step 6). Registered as jobs in ``payments.apps``:

- ``payment_deadlines`` (``checkouts_deadline``): keeps the seats of trips being paid
  from looking free before their policy ran; applies each due checkout's policy
  (``services.checkout_deadline``: go ahead without the unpaid, cancel everything, or a
  grace period then cancel); resumes what a crash or an unreachable Stripe left half done
  (a cancelled checkout's authorisations, a pending refund; a confirmation is resumed by
  its own task, ``payments.tasks``).
- ``payment_reminders`` (``payment_reminders``): queues an e-mail (the outbox sends it)
  to each unpaid traveller with their pay link before the deadline, once per reminder
  (``Share.reminders_sent``).

Every step is safe in several workers at once (rows claimed with
``select_for_update(skip_locked=True)``) and again after a crash (the state moves with
the claim; Stripe writes replay by their keys). Stripe is never called inside a
transaction.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from booking import plan
from core.l10n import format_moment
from core.site import site_url
from groups.selectors import user_display_name
from notices.emails import email_render
from notices.services import message_queue
from notices.templatetags.emails import cents
from payments import services
from payments.errors import StripeError
from payments.models import Checkout, Payment, Share

logger = logging.getLogger(__name__)


def _config(key: str):
    return settings.SIDEBYSIDE[key]


def pay_link_url(token: str) -> str:
    """The pay page (frontend's ``pay``) for ``services.pay_link_token``'s token."""
    return site_url() + reverse("pay", args=[token])


# --- The deadline ------------------------------------------------------------------------------


def checkouts_deadline(*, now: dt.datetime | None = None, limit: int = 50) -> int:
    """One pass of the deadline worker. Returns how many checkouts (or payments, for the
    repairs) it handled."""
    now = now or timezone.now()
    plan.holds_keep_in_checkout(now=now, margin_seconds=_config("PAYMENT_HOLD_MARGIN_SECONDS"))
    due = list(
        Checkout.objects.filter(
            Q(state=Checkout.State.OPEN, deadline_at__lte=now)
            | Q(state=Checkout.State.GRACE, grace_until__lte=now)
        )
        .order_by("deadline_at")
        .values_list("pk", flat=True)[:limit]
    )
    handled = 0
    for checkout_id in due:
        try:
            if services.checkout_deadline(checkout_id=checkout_id, now=now):
                handled += 1
        except StripeError:
            # Stripe out of reach mid-way: the state says where it stopped; next pass.
            logger.warning("deadline of checkout %s postponed", checkout_id, exc_info=True)
    return handled + _resume(now)


def _resume(now: dt.datetime) -> int:
    """Finish what was left half done: cancelled checkouts' money, pending refunds. (A
    confirmation left half done is the confirmation task's: ``payments.tasks``.)"""
    handled = 0
    live = Payment.objects.filter(checkout=OuterRef("pk"), state__in=services.LIVE_PAYMENT_STATES)
    unrefunded = Payment.objects.filter(
        checkout=OuterRef("pk"), state=Payment.State.CAPTURED
    ).exclude(refunds__idempotency_key__startswith="refund-all-")
    unsettled = Checkout.objects.filter(state=Checkout.State.CANCELLED).filter(
        Exists(live) | Exists(unrefunded)
    )
    for checkout_id in unsettled.values_list("pk", flat=True)[:20]:
        try:
            handled += services.checkout_cancel_settle(checkout_id=checkout_id, now=now)
        except StripeError:
            logger.warning("settling checkout %s postponed", checkout_id, exc_info=True)
    return handled + services.refunds_retry()


# --- Reminders -----------------------------------------------------------------------------


def reminder_times(checkout: Checkout) -> list[dt.datetime]:
    """When the unpaid of this checkout are reminded: when ``PAYMENT_REMINDER_FRACTION_
    LEFT`` of its time is left, and ``PAYMENT_REMINDER_HOURS_LEFT`` hours before the
    deadline; a time outside the checkout's span is skipped."""
    start, end = checkout.created_at, checkout.deadline_at
    times = []
    fraction = _config("PAYMENT_REMINDER_FRACTION_LEFT")
    if 0 < fraction < 1:
        times.append(end - (end - start) * fraction)
    hours = _config("PAYMENT_REMINDER_HOURS_LEFT")
    if hours > 0:
        times.append(end - dt.timedelta(hours=hours))
    return sorted(t for t in times if start < t < end)


def payment_reminders(*, now: dt.datetime | None = None) -> int:
    """Queue a reminder (``payments.reminder_<n>``, sent by the outbox) to every
    traveller whose share nobody has paid or started paying, once per reminder that is
    due (several due at once: one message), in the same transaction as the count.
    Returns how many it queued."""
    now = now or timezone.now()
    queued = 0
    open_checkouts = Checkout.objects.filter(
        state=Checkout.State.OPEN, deadline_at__gt=now
    ).select_related("trip")
    for checkout in open_checkouts:
        due = sum(1 for moment in reminder_times(checkout) if moment <= now)
        if not due:
            continue
        with transaction.atomic():
            shares = list(
                Share.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                    checkout=checkout,
                    state=Share.State.UNPAID,
                    payment__isnull=True,
                    reminders_sent__lt=due,
                )
            )
            Share.objects.filter(pk__in=[s.pk for s in shares]).update(
                reminders_sent=due, updated_at=now
            )
            for share in shares:
                queued += message_queue(
                    kind=f"payments.reminder_{due}",
                    object_id=share.pk,
                    recipient_ids=[share.traveller_id],
                    trip_id=checkout.trip_id,
                )
    return queued


def reminder(message):
    """The reminder's e-mail; nothing when the share was paid (or the checkout moved on)
    before it went."""
    share = (
        Share.objects.filter(
            pk=message.object_id,
            traveller_id=message.recipient_id,
            state=Share.State.UNPAID,
            payment__isnull=True,
            checkout__state=Checkout.State.OPEN,
        )
        .select_related("checkout__trip", "traveller")
        .first()
    )
    if share is None:
        return None
    checkout, traveller = share.checkout, share.traveller
    token = services.pay_link_token(checkout=checkout, payer=traveller)
    return email_render(
        "payments/email/reminder",
        {
            "name": user_display_name(user=traveller),
            "trip_title": checkout.trip.title,
            "amount": cents(share.amount_cents, share.currency),
            "deadline": format_moment(timezone.localtime(checkout.deadline_at), year=True),
            "policy": checkout.policy,
            "link": pay_link_url(token),
        },
    )
