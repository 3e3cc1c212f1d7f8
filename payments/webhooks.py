"""Stripe webhooks: ``POST /payments/stripe/webhook/`` (docs/payments.md, "Webhooks").

The request only verifies and records; the work runs in the worker (``payments.tasks``),
so Stripe gets its answer at once and never waits on our calls to Stripe.

1. The signature is checked (``stripe_gateway.webhook_event_construct``): forged,
   unsigned, tampered, too old or dated in the future → 400 and nothing is written.
2. The event is stored once by its id (``StripeEvent``), due at once for the worker, and
   answered 200. A delivery of an event already stored (Stripe retries, replays) answers
   200 and changes nothing. No Stripe call is made in the request.
3. The worker handles it by type (``stripe_event_handle``). A PaymentIntent event is
   never trusted for its content: the PaymentIntent is read again through
   ``payments.services.payment_sync``, which only moves a payment forward, so events may
   come in any order, twice, or late; the last authorisation queues the confirmation (a
   task of its own). Unknown types and events about a PaymentIntent we do not know are
   marked handled.
4. An error while handling is kept on the event row and the event is taken again later,
   with backoff (every step is idempotent).

Stripe is called outside any transaction (``payment_sync`` commits its own steps); the
event row is written in short transactions of its own before and after.
"""

import json
import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from booking.services import booking_flag_disputed
from core import jobs
from core.errors import Busy
from payments import stripe_gateway as gateway
from payments.errors import WebhookSignatureInvalid
from payments.models import Checkout, Payment, Refund, StripeEvent
from payments.services import checkout_confirm, payment_sync

logger = logging.getLogger(__name__)


# --- Finding our payment ------------------------------------------------------------------


def _payment_for_intent(intent_id: str | None, metadata: dict | None = None) -> Payment | None:
    """Our payment for a PaymentIntent: by its id, else by the ids we put in its metadata
    (a process that stopped between creating the intent and saving its id: the id is
    saved now, once, on the payment the metadata names)."""
    if not intent_id:
        return None
    payment = Payment.objects.filter(stripe_payment_intent_id=intent_id).first()
    if payment is not None or not metadata:
        return payment
    payment_id, checkout_id = metadata.get("payment"), metadata.get("checkout")
    if not (str(payment_id or "").isdigit() and str(checkout_id or "").isdigit()):
        return None
    with transaction.atomic():
        attached = Payment.objects.filter(
            pk=int(payment_id), checkout_id=int(checkout_id), stripe_payment_intent_id=None
        ).update(stripe_payment_intent_id=intent_id, updated_at=timezone.now())
    if attached:
        logger.info("webhook: PaymentIntent %s attached to payment %s", intent_id, payment_id)
    return Payment.objects.filter(stripe_payment_intent_id=intent_id).first()


# --- Handlers: each idempotent, each safe in any order -------------------------------------


def _payment_intent_changed(event: gateway.WebhookEvent) -> None:
    intent = event.object
    payment = _payment_for_intent(intent.get("id"), intent.get("metadata"))
    if payment is None:
        logger.info("webhook %s: PaymentIntent %s is not ours", event.id, intent.get("id"))
        return
    checkout_state = (
        Checkout.objects.filter(pk=payment.checkout_id).values_list("state", flat=True).first()
    )
    if checkout_state == Checkout.State.CONFIRMING:
        # The captures are under way (or were cut short): the confirmation reads every
        # authorisation again, records the captures made, and reopens the checkout as a
        # whole if one fell; a single payment must not drop out of it on its own.
        checkout_confirm(checkout_id=payment.checkout_id)
    else:
        payment_sync(payment_id=payment.pk)


def _charge_refunded(event: gateway.WebhookEvent) -> None:
    """Refunds are made by us (``refund_create``) and recorded then; the event confirms
    the ones Stripe reports as succeeded. A refund made elsewhere (the dashboard) is only
    kept in the event row for staff."""
    charge = event.object
    refunds = (charge.get("refunds") or {}).get("data") or []
    succeeded = [r.get("id") for r in refunds if r.get("id") and r.get("status") == "succeeded"]
    if succeeded:
        with transaction.atomic():
            Refund.objects.filter(
                stripe_refund_id__in=succeeded, state=Refund.State.PENDING
            ).update(state=Refund.State.SUCCEEDED, updated_at=timezone.now())
    if _payment_for_intent(charge.get("payment_intent")) is None:
        logger.info("webhook %s: refunded charge %s is not ours", event.id, charge.get("id"))


def _dispute_created(event: gateway.WebhookEvent) -> None:
    """A chargeback: the booking is flagged for staff (they answer the bank)."""
    dispute = event.object
    payment = _payment_for_intent(dispute.get("payment_intent"))
    if payment is None:
        logger.warning("webhook %s: dispute %s on a charge not ours", event.id, dispute.get("id"))
        return
    booking = booking_flag_disputed(trip_id=payment.checkout.trip_id)
    logger.warning(
        "webhook %s: dispute %s on payment %s (booking %s)",
        event.id,
        dispute.get("id"),
        payment.pk,
        booking.pk if booking else None,
    )


HANDLERS: dict[str, Callable[[gateway.WebhookEvent], None]] = {
    "payment_intent.amount_capturable_updated": _payment_intent_changed,
    "payment_intent.succeeded": _payment_intent_changed,
    "payment_intent.payment_failed": _payment_intent_changed,
    "payment_intent.canceled": _payment_intent_changed,
    "payment_intent.requires_action": _payment_intent_changed,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
}


# --- The service -----------------------------------------------------------------------------


def _event_store(event: gateway.WebhookEvent) -> StripeEvent:
    payload = {"created": event.created, "livemode": event.livemode, "object": event.object}
    try:
        with transaction.atomic():
            row, _created = StripeEvent.objects.get_or_create(
                event_id=event.id,
                defaults={
                    "type": event.type,
                    "payload": payload,
                    "next_attempt_at": timezone.now(),
                },
            )
            if _created:
                jobs.wake("stripe_events")  # after the commit: the worker handles it now
    except IntegrityError:  # the same event delivered twice at the same moment
        row = StripeEvent.objects.get(event_id=event.id)
    return row


def stripe_event_receive(event: gateway.WebhookEvent) -> StripeEvent:
    """Store a verified event once, due at once for the worker (``payments.tasks.
    stripe_events_handle``); a replay finds its row and changes nothing. No Stripe call:
    this runs in Stripe's own request."""
    return _event_store(event)


def stripe_event_handle(row: StripeEvent) -> None:
    """Handle a stored event (in the worker), unless it was handled already. An error is
    recorded on the event's row and raised again (the worker takes it again later)."""
    if row.handled_at is not None:
        return
    event = gateway.WebhookEvent(
        id=row.event_id,
        type=row.type,
        object=dict(row.payload.get("object") or {}),
        created=row.payload.get("created"),
        livemode=bool(row.payload.get("livemode", False)),
    )
    handler = HANDLERS.get(event.type)
    try:
        if handler is not None:
            handler(event)
    except Exception as error:
        message = f"{type(error).__name__}: {getattr(error, 'message', None) or error}"
        StripeEvent.objects.filter(pk=row.pk).update(error=message[:2000])
        raise
    StripeEvent.objects.filter(pk=row.pk, handled_at=None).update(
        handled_at=timezone.now(), error=""
    )


# --- The door ------------------------------------------------------------------------------


@csrf_exempt  # Stripe signs its requests; it has no CSRF token.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = gateway.webhook_event_construct(
            request.body, request.headers.get("Stripe-Signature", "")
        )
    except WebhookSignatureInvalid:
        logger.warning("webhook refused: bad or missing signature")
        return HttpResponse(status=400)
    try:
        stripe_event_receive(event)
    except Busy as error:
        # A lock not had in time (core/locking.py): nothing was written; Stripe retries.
        logger.warning("webhook %s (%s) postponed: %s", event.id, event.type, error.code)
        response = _json(503, {"received": True, "handled": False})
        response["Retry-After"] = str(error.retry_after)
        return response
    except Exception:
        logger.exception("webhook %s (%s) failed: Stripe will retry", event.id, event.type)
        return _json(500, {"received": True, "handled": False})
    return _json(200, {"received": True})


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")
