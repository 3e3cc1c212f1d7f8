"""Reconciliation: compare our payments with Stripe and repair the drift
(``manage.py reconcile``, the admin's "Reconcile this trip"; docs/payments.md).

Drift comes from a process stopped half-way (killed between a capture and its commit), a
webhook lost, or a change made at Stripe (an authorisation expired or cancelled in the
dashboard). For every checkout not settled (open, grace, confirming), or confirmed with
payments not marked captured, each PaymentIntent is read again and:

- captured at Stripe, not here → the payment and its shares are captured here (money was
  taken: it is never given up), then the confirmation is finished (seats sold, tickets)
  when every share is authorised or captured;
- authorised at Stripe, created or waiting for the bank here → authorised
  (``payment_sync``, which also confirms the booking once every share is authorised);
- cancelled or declined at Stripe, authorised or pending here → the payment fails, its
  shares are unpaid again (``payment_sync``);
- authorised at Stripe for a payment we gave up → the authorisation is released
  (``payment_sync``);
- a confirmed booking whose payment is still only authorised → captured with its usual
  key (``pi-capture-<key>``: a capture that did happen replays, none happens twice);
- a checkout left ``confirming`` → ``checkout_confirm`` resumes it.

A payment failed here but captured at Stripe is not changed: it is reported for staff
(the money must be refunded or the traveller re-attached by a person).

Each repair goes through the services' own steps (locks in their order, Stripe outside
transactions, idempotency keys from our ids), so a second run finds nothing to do and a
run beside the live site does no harm. What changed is read back from the database: one
line per change.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from booking import plan
from booking.models import Ticket, Trip
from core.errors import DomainError
from payments import stripe_gateway as gateway
from payments.models import Checkout, Payment, Share
from payments.services import checkout_confirm, payment_sync

logger = logging.getLogger(__name__)

UNSETTLED = (Checkout.State.OPEN, Checkout.State.GRACE, Checkout.State.CONFIRMING)
NOT_CAPTURED = (Payment.State.CREATED, Payment.State.REQUIRES_ACTION, Payment.State.AUTHORISED)
GIVEN_UP = (Payment.State.FAILED, Payment.State.CANCELLED)


@dataclass(frozen=True)
class Change:
    """One line of the report. ``attention``: not changed, a person must look at it."""

    checkout_id: int
    text: str
    attention: bool = False

    def __str__(self) -> str:
        prefix = "ATTENTION " if self.attention else ""
        return f"{prefix}checkout {self.checkout_id}: {self.text}"


def checkouts_to_reconcile(*, trip_id: int | None = None, checkout_ids=None) -> list[int]:
    """Checkouts not settled, or confirmed with a payment not marked captured."""
    checkouts = Checkout.objects.filter(
        Q(state__in=UNSETTLED) | Q(state=Checkout.State.CONFIRMED, payments__state__in=NOT_CAPTURED)
    )
    if trip_id is not None:
        checkouts = checkouts.filter(trip_id=trip_id)
    if checkout_ids is not None:
        checkouts = checkouts.filter(pk__in=list(checkout_ids))
    return sorted(set(checkouts.values_list("pk", flat=True)))


def reconcile(
    *, trip_id: int | None = None, checkout_ids=None, dry_run: bool = False
) -> list[Change]:
    """Repair every checkout in scope (or, with ``dry_run``, only say what would be
    repaired: Stripe is read, nothing is written). Returns the changes, in order."""
    changes: list[Change] = []
    for checkout_id in checkouts_to_reconcile(trip_id=trip_id, checkout_ids=checkout_ids):
        changes += checkout_reconcile(checkout_id=checkout_id, dry_run=dry_run)
    changes += refunds_reconcile(trip_id=trip_id, checkout_ids=checkout_ids, dry_run=dry_run)
    return changes


def refunds_reconcile(
    *, trip_id: int | None = None, checkout_ids=None, dry_run: bool = False
) -> list[Change]:
    """Refunds recorded but not answered by Stripe (a process killed between our commit
    and Stripe's answer, Stripe out of reach): asked again with their own key, so a
    refund Stripe did make is replayed and recorded, never made twice. Disruption refunds
    and delay compensations are included (docs/disruptions.md)."""
    from payments.models import Refund
    from payments.services import _refund_send

    pending = Refund.objects.filter(state=Refund.State.PENDING).select_related("payment")
    if trip_id is not None:
        pending = pending.filter(payment__checkout__trip_id=trip_id)
    if checkout_ids is not None:
        pending = pending.filter(payment__checkout_id__in=list(checkout_ids))
    changes = []
    for refund in pending.order_by("pk"):
        label = f"refund {refund.pk} ({refund.idempotency_key})"
        if dry_run:
            changes.append(Change(refund.payment.checkout_id, f"would ask Stripe for {label}"))
            continue
        if _refund_send(refund):
            changes.append(Change(refund.payment.checkout_id, f"{label} pending → succeeded"))
        else:
            refund.refresh_from_db()
            changes.append(
                Change(
                    refund.payment.checkout_id,
                    f"{label} {refund.state}: not repaired",
                    attention=True,
                )
            )
    return changes


# --- One checkout --------------------------------------------------------------------------


def _snapshot(checkout_id: int) -> dict:
    checkout = Checkout.objects.get(pk=checkout_id)
    return {
        "checkout": checkout.state,
        "payments": {
            pk: (state, intent)
            for pk, state, intent in Payment.objects.filter(checkout_id=checkout_id).values_list(
                "pk", "state", "stripe_payment_intent_id"
            )
        },
        "shares": {
            pk: (state, payment_id)
            for pk, state, payment_id in Share.objects.filter(checkout_id=checkout_id).values_list(
                "pk", "state", "payment_id"
            )
        },
        "tickets": Ticket.objects.filter(booking__trip_id=checkout.trip_id).count(),
    }


def _share_text(state: str, payment_id: int | None) -> str:
    return f"{state} (payment {payment_id})" if payment_id else state


def _differences(checkout_id: int, before: dict, after: dict) -> list[Change]:
    lines = []
    for pk, (state, intent) in after["payments"].items():
        old = before["payments"].get(pk, (None, None))[0]
        if old != state:
            lines.append(f"payment {pk} ({intent or 'no PaymentIntent'}) {old} → {state}")
    for pk, now in after["shares"].items():
        old = before["shares"].get(pk)
        if old != now:
            old_text = _share_text(*old) if old else "none"
            lines.append(f"share {pk} {old_text} → {_share_text(*now)}")
    if before["checkout"] != after["checkout"]:
        lines.append(f"{before['checkout']} → {after['checkout']}")
    if after["tickets"] != before["tickets"]:
        lines.append(f"tickets {before['tickets']} → {after['tickets']}")
    return [Change(checkout_id, line) for line in lines]


def _payment_drift(checkout_state: str, payment: Payment, intent) -> str | None:
    """What must happen to ``payment`` given Stripe's ``intent``, or ``None``:
    ``captured``, ``capture``, ``sync`` or ``attention``."""
    status = intent.status
    if status == "succeeded":
        if payment.state in NOT_CAPTURED:
            return "captured"
        if payment.state in GIVEN_UP:
            return "attention"
        return None
    if status == "requires_capture":
        if payment.state == Payment.State.AUTHORISED:
            return "capture" if checkout_state == Checkout.State.CONFIRMED else None
        if payment.state in GIVEN_UP or payment.state in NOT_CAPTURED:
            return "sync"  # authorise it, or release an authorisation we gave up
        return None
    if status == "requires_action":
        return "sync" if payment.state == Payment.State.CREATED else None
    if status == "canceled" or (status == "requires_payment_method" and intent.last_error_code):
        return "sync" if payment.state in NOT_CAPTURED else None
    return None


_DRY_RUN_TEXT = {
    "captured": "would mark payment {pk} ({intent}) captured: Stripe captured it",
    "capture": "would capture payment {pk} ({intent}) of the confirmed booking",
    "sync": "would move payment {pk} ({intent}) from {state} to what Stripe says ({status})",
}


def _payment_mark_captured(payment_id: int) -> None:
    """Stripe took the money: the payment and the shares it covers are captured here."""
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update(of=("self",)).get(payments__pk=payment_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.state not in NOT_CAPTURED:
            return
        now = timezone.now()
        payment.state = Payment.State.CAPTURED
        payment.captured_at = now
        payment.save(update_fields=["state", "captured_at", "updated_at"])
        shares = Share.objects.select_for_update().filter(
            payment=payment, state__in=[Share.State.UNPAID, Share.State.AUTHORISED]
        )
        travellers = sorted(share.traveller_id for share in shares)
        Share.objects.filter(pk__in=[share.pk for share in shares]).update(
            state=Share.State.CAPTURED, updated_at=now
        )
        if travellers:
            trip = Trip.objects.select_for_update().get(pk=checkout.trip_id)
            plan.record(
                trip,
                "shares_changed",
                {"checkout_id": checkout.pk, "travellers": travellers, "state": "captured"},
            )
    logger.warning("reconcile: payment %s captured at Stripe, recorded now", payment_id)


def _payment_capture(payment: Payment) -> None:
    gateway.payment_intent_capture(
        payment.stripe_payment_intent_id, idempotency_key=payment.idempotency_key("capture")
    )
    _payment_mark_captured(payment.pk)


def _every_share_paid(checkout_id: int) -> bool:
    states = set(
        Share.objects.filter(checkout_id=checkout_id)
        .exclude(state=Share.State.RELEASED)
        .values_list("state", flat=True)
    )
    return bool(states) and states <= {Share.State.AUTHORISED, Share.State.CAPTURED}


def checkout_reconcile(*, checkout_id: int, dry_run: bool = False) -> list[Change]:
    """Repair one checkout (see the module's docstring). A domain error (Stripe out of
    reach, seats no longer held…) stops this checkout's repair and is reported; what was
    repaired before it stays repaired, and the next run goes on."""
    before = _snapshot(checkout_id)
    notes: list[Change] = []
    try:
        checkout_state = before["checkout"]
        payments = list(
            Payment.objects.filter(checkout_id=checkout_id)
            .exclude(stripe_payment_intent_id=None)
            .exclude(state=Payment.State.CAPTURED)
            .order_by("pk")
        )
        for payment in payments:
            intent = gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
            drift = _payment_drift(checkout_state, payment, intent)
            if drift is None or (drift == "sync" and checkout_state == Checkout.State.CONFIRMING):
                # While confirming, checkout_confirm itself checks every authorisation
                # before any capture and reopens the checkout if one fell.
                continue
            if drift == "attention":
                notes.append(
                    Change(
                        checkout_id,
                        f"payment {payment.pk} ({intent.id}) is {payment.state} here but "
                        f"captured at Stripe: refund it or re-attach it by hand",
                        attention=True,
                    )
                )
                continue
            if dry_run:
                text = _DRY_RUN_TEXT[drift].format(
                    pk=payment.pk, intent=intent.id, state=payment.state, status=intent.status
                )
                notes.append(Change(checkout_id, text))
            elif drift == "captured":
                _payment_mark_captured(payment.pk)
            elif drift == "capture":
                _payment_capture(payment)
            else:
                payment_sync(payment_id=payment.pk)

        checkout = Checkout.objects.get(pk=checkout_id)
        finish = checkout.state == Checkout.State.CONFIRMING or (
            checkout.state in (Checkout.State.OPEN, Checkout.State.GRACE)
            and _every_share_paid(checkout_id)
        )
        if finish and dry_run:
            notes.append(Change(checkout_id, "would finish the confirmation"))
        elif finish:
            checkout_confirm(checkout_id=checkout_id)
    except DomainError as error:
        logger.warning("reconcile: checkout %s stopped", checkout_id, exc_info=True)
        notes.append(
            Change(
                checkout_id,
                f"not repaired: {type(error).__name__}: {error.message}",
                attention=True,
            )
        )
    if dry_run:
        return notes
    return _differences(checkout_id, before, _snapshot(checkout_id)) + notes
