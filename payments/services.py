"""Split payments: the checkout's money path (docs/design/payments.md).

- ``checkout_start``: the organiser fixes every traveller's share at the price they hold;
  the plan freezes (``Trip.Status.CHECKOUT``), the holds last until the deadline.
- ``payment_start``: a payer covers one or more shares with one PaymentIntent (manual
  capture: it only authorises the card).
- ``payment_sync``: the PaymentIntent is read again and the payment moves on (authorised,
  needs the bank, failed); when every share is authorised, ``checkout_confirm``.
- ``checkout_confirm``: ``confirming`` committed first, then every payment captured, then
  one transaction books the seats and issues the tickets (``booking.services``).

Rules: each database step is one transaction with row locks taken in one order
(checkout → payment → shares → trip → seat allocations); Stripe is never called inside a
transaction or while holding a lock; every Stripe write has an idempotency key made from
the payment's ``key`` (``Payment.idempotency_key``), so a retried step never does a thing
twice at Stripe. A refused request raises a domain error and writes nothing; a card that
Stripe refused is recorded (the payment ``failed``, its shares unpaid again) before the
error is raised, so the payer, or a friend, can pay again.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from booking import plan
from booking.errors import TicketNotFound
from booking.models import (
    AllocationState,
    SeatAllocation,
    Ticket,
    TravellerFare,
    Trip,
    TripLeg,
)
from booking.plan_selectors import traveller_prices
from booking.services import TicketItem, booking_confirm
from booking.services import ticket_cancel as booking_ticket_cancel
from core import jobs
from core.errors import InvalidInput
from groups.models import Membership, Profile
from notices.services import message_queue
from payments import credits, signals
from payments import stripe_gateway as gateway
from payments.errors import (
    CardDeclined,
    CheckoutClosed,
    CheckoutNotFound,
    CheckoutNotReady,
    ShareUnavailable,
    StripeError,
    StripeUnavailable,
)
from payments.models import Checkout, Payment, Refund, Share, ShareItem
from payments.refund_rules import ticket_refund_due

logger = logging.getLogger(__name__)

PAY_LINK_SALT = "pay-link"
OPEN_STATES = (Checkout.State.OPEN, Checkout.State.GRACE)


def _config(key: str):
    return settings.SIDEBYSIDE[key]


# --- Start -----------------------------------------------------------------------------------


def _deadline_hours(value) -> int:
    low, high = _config("PAYMENT_DEADLINE_HOURS_MIN"), _config("PAYMENT_DEADLINE_HOURS_MAX")
    if value is None:
        return _config("PAYMENT_DEADLINE_HOURS_DEFAULT")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        message = _("Choose a deadline between %(low)s and %(high)s hours.") % {
            "low": low,
            "high": high,
        }
        raise InvalidInput(message, fields={"deadline_hours": [message]})
    return value


def _names(user_ids) -> dict[int, str]:
    return dict(
        Profile.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "display_name")
    )


def checkout_start(
    *, trip_id: int, by, deadline_hours: int | None = None, policy: str = "go_ahead"
) -> Checkout:
    """The organiser starts paying: every leg has its train, every active traveller holds
    a live seat and has a fare on every leg (else ``CheckoutNotReady`` naming who lacks
    what). Each share is priced now with the plan's own pricing and frozen per leg; the
    trip moves to ``checkout`` (the plan refuses changes), every hold lasts until the
    deadline (and the grace period with the ``grace`` policy). A traveller's own credit
    (``payments.credits``: a referral reward) is reserved on their share in the same
    transaction and lowers what they pay. A fixed number of queries whatever the group's
    size (plus one per traveller who has credit)."""
    hours = _deadline_hours(deadline_hours)
    if policy not in Checkout.Policy.values:
        raise InvalidInput(_("Unknown deadline policy."), fields={"policy": [_("Unknown.")]})
    with transaction.atomic():
        # The trip's lock, the organiser's right, and "still planning" (TripLocked).
        trip = plan.trip_lock(trip_id, by, organiser=True).trip
        now = timezone.now()
        legs = list(
            TripLeg.objects.filter(trip=trip).select_related("departure").order_by("direction")
        )
        unsettled = [leg.direction for leg in legs if leg.departure_id is None]
        if not legs or unsettled:
            raise CheckoutNotReady(
                _("Choose the train of every leg before checkout."),
                fields={"legs": [_("No train chosen yet.")] * max(1, len(unsettled))},
            )
        for leg in legs:
            plan.departure_bookable(leg.departure, now)
        deadline_at = now + dt.timedelta(hours=hours)
        grace_until = None
        if policy == Checkout.Policy.GRACE:
            grace_until = deadline_at + dt.timedelta(hours=_config("PAYMENT_GRACE_HOURS"))
        holds_until = grace_until or deadline_at
        if holds_until >= min(leg.departure.departs_at for leg in legs):
            message = _(
                "Everyone must have paid before the train leaves: choose a shorter deadline."
            )
            raise InvalidInput(message, fields={"deadline_hours": [message]})

        travellers = list(
            Membership.objects.filter(group_id=trip.group_id, status=Membership.Status.ACTIVE)
            .order_by("joined_at", "pk")
            .values_list("user_id", flat=True)
        )
        held = {
            (a.leg_id, a.user_id): a
            for a in SeatAllocation.objects.select_for_update().filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                leg__in=legs,
                user_id__in=travellers,
                state=AllocationState.HELD,
            )
        }
        fares = {
            (f.leg_id, f.user_id): f
            for f in TravellerFare.objects.filter(
                leg__in=legs, user_id__in=travellers
            ).select_related("fare_class", "passenger_type", "discount_card")
        }
        prices = traveller_prices(list(fares.values()), [leg.departure for leg in legs], now=now)

        missing: list[tuple[int, str]] = []
        lines: dict[int, list[tuple[TripLeg, SeatAllocation, TravellerFare, dict]]] = {}
        for user_id in travellers:
            for leg in legs:
                allocation, fare = held.get((leg.pk, user_id)), fares.get((leg.pk, user_id))
                price = prices.get((fare.pk, leg.departure_id)) if fare else None
                if allocation is None or allocation.departure_id != leg.departure_id or not price:
                    missing.append((user_id, leg.get_direction_display()))
                    continue
                lines.setdefault(user_id, []).append((leg, allocation, fare, price))
        if missing:
            names = _names(user_id for user_id, _leg in missing)
            who = [
                _("%(name)s (%(leg)s)") % {"name": names.get(user_id, "?"), "leg": leg}
                for user_id, leg in missing
            ]
            raise CheckoutNotReady(
                _("Not everyone has a seat and a fare yet: %(who)s.") % {"who": ", ".join(who)},
                fields={"travellers": who},
            )
        currencies = {price["currency"] for rows in lines.values() for *_r, price in rows}
        if len(currencies) != 1:
            raise CheckoutNotReady(_("The fares of this trip are in several currencies."))
        currency = currencies.pop().upper()

        checkout = Checkout.objects.create(
            trip=trip,
            policy=policy,
            currency=currency,
            deadline_at=deadline_at,
            grace_until=grace_until,
            started_by=by,
        )
        shares = Share.objects.bulk_create(
            [
                Share(
                    checkout=checkout,
                    traveller_id=user_id,
                    amount_cents=sum(price["amount_cents"] for *_r, price in lines[user_id]),
                    currency=currency,
                )
                for user_id in travellers
            ]
        )
        # The items keep the full prices (the tickets' prices); the credit lowers the share.
        credits.shares_credit_apply(shares)
        message_queue(
            kind="payments.checkout_started",
            object_id=checkout.pk,
            recipient_ids=travellers,
            trip_id=trip.pk,
        )
        ShareItem.objects.bulk_create(
            [
                ShareItem(
                    share=share,
                    leg=leg,
                    allocation=allocation,
                    fare_class_id=fare.fare_class_id,
                    passenger_type_id=fare.passenger_type_id,
                    discount_card_id=fare.discount_card_id,
                    amount_cents=price["amount_cents"],
                )
                for share in shares
                for leg, allocation, fare, price in lines[share.traveller_id]
            ]
        )
        SeatAllocation.objects.filter(
            pk__in=[allocation.pk for rows in lines.values() for _l, allocation, *_r in rows]
        ).update(expires_at=holds_until, updated_at=now)
        trip.status = Trip.Status.CHECKOUT
        Trip.objects.filter(pk=trip.pk).update(status=Trip.Status.CHECKOUT)
        plan.record(
            trip,
            "checkout_started",
            {
                "checkout_id": checkout.pk,
                "deadline_at": deadline_at.isoformat(),
                "grace_until": grace_until.isoformat() if grace_until else None,
                "policy": policy,
                "travellers": travellers,
            },
            actor=by,
        )
    return checkout


# --- Pay links -------------------------------------------------------------------------------


def pay_link_token(*, checkout: Checkout, payer) -> str:
    """The token of a payer's personal pay link (``/pay/<token>/``): it opens their pay
    page without a login. Read back by ``payments.selectors.pay_link_read``."""
    return signing.dumps({"c": checkout.pk, "u": payer.pk}, salt=PAY_LINK_SALT)


# --- Paying ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentStarted:
    payment: Payment
    client_secret: str  # for Stripe.js on the payer's page only
    status: str  # the PaymentIntent's


def _is_traveller(checkout: Checkout, user) -> bool:
    return Membership.objects.filter(
        group_id=checkout.trip.group_id, user=user, status=Membership.Status.ACTIVE
    ).exists()


def payment_start(
    *, checkout_id: int, payer, share_ids: list[int], payment_method: str | None = None
) -> PaymentStarted:
    """``payer`` covers ``share_ids`` (theirs and friends') of an open checkout with one
    PaymentIntent. Shares already covered, paid, released or of another checkout:
    ``ShareUnavailable``, nothing written. With ``payment_method`` (a card the payer's
    page made with Stripe.js) the intent is confirmed here at once; otherwise the page
    confirms it with Stripe.js and calls ``payment_sync``. A declined card raises
    ``CardDeclined`` after recording the payment as failed (its shares unpaid again)."""
    ids = sorted({int(share_id) for share_id in share_ids})
    if not ids:
        raise InvalidInput(_("Choose at least one share to pay."), fields={"shares": [_("Empty.")]})
    with transaction.atomic():
        checkout = (
            Checkout.objects.select_for_update()
            .select_related("trip")
            .filter(pk=checkout_id)
            .first()
        )
        if checkout is None or payer is None or not _is_traveller(checkout, payer):
            raise CheckoutNotFound()
        if checkout.state not in OPEN_STATES:
            raise CheckoutClosed()
        shares = list(Share.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        if len(shares) != len(ids) or any(
            share.checkout_id != checkout.pk
            or share.state != Share.State.UNPAID
            or share.payment_id is not None
            for share in shares
        ):
            raise ShareUnavailable()
        last = Payment.objects.filter(checkout=checkout, payer=payer).aggregate(n=Max("attempt"))
        payment = Payment.objects.create(
            checkout=checkout,
            payer=payer,
            attempt=(last["n"] or 0) + 1,
            amount_cents=sum(share.amount_cents for share in shares),
            currency=checkout.currency,
        )
        Share.objects.filter(pk__in=ids).update(payment=payment, updated_at=timezone.now())

    # Stripe, outside any transaction.
    try:
        intent = gateway.payment_intent_create(
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            metadata={
                "checkout": str(checkout.pk),
                "trip": str(checkout.trip_id),
                "payment": str(payment.pk),
                "payer": str(payer.pk),
                "shares": ",".join(str(share_id) for share_id in ids),
            },
            idempotency_key=payment.idempotency_key("create"),
            payment_method=payment_method,
            customer_email=payer.email or None,
        )
    except StripeError as error:
        _payment_fail(payment.pk, error)
        raise
    with transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(
            stripe_payment_intent_id=intent.id, updated_at=timezone.now()
        )
    if payment_method:
        try:
            intent = gateway.payment_intent_confirm(
                intent.id, idempotency_key=payment.idempotency_key("confirm")
            )
        except CardDeclined as error:
            _payment_fail(payment.pk, error)
            raise
    payment, release = _apply(payment.pk, intent, card=_card_read(payment, intent))
    if release:
        _release_authorisation(payment)
    _after_sync(payment)
    return PaymentStarted(payment=payment, client_secret=intent.client_secret, status=intent.status)


def _detach(payment: Payment, *, error: str, state: str = Payment.State.FAILED) -> list[int]:
    """Under the payment's lock: it ends, its shares are unpaid again (anyone may pay
    them). Returns the travellers whose share that was."""
    payment.state = state
    payment.last_error = error[:500]
    payment.save(update_fields=["state", "last_error", "updated_at"])
    shares = Share.objects.filter(
        payment=payment, state__in=[Share.State.UNPAID, Share.State.AUTHORISED]
    )
    travellers = list(shares.values_list("traveller_id", flat=True))
    shares.update(state=Share.State.UNPAID, payment=None, updated_at=timezone.now())
    return travellers


def _payments_changed(checkout: Checkout, travellers: list[int], state: str) -> None:
    """Tell the trip's members (its live page) whose shares moved, never amounts."""
    if not travellers:
        return
    trip = Trip.objects.select_for_update().get(pk=checkout.trip_id)
    plan.record(
        trip,
        "shares_changed",
        {"checkout_id": checkout.pk, "travellers": sorted(travellers), "state": state},
    )


def _payment_fail(payment_id: int, error: StripeError) -> None:
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update(of=("self",)).get(payments__pk=payment_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.state in (Payment.State.CAPTURED, Payment.State.FAILED):
            return
        message = error.stripe_message or str(error.message)
        travellers = _detach(payment, error=f"{error.code}: {message}")
        _payments_changed(checkout, travellers, Share.State.UNPAID)


def _card_read(payment: Payment, intent: gateway.PaymentIntentView) -> gateway.CardView | None:
    """The card an intent is being authorised with, read from Stripe before ``_apply``
    takes its locks (no Stripe call under a lock), once: when the payment is not
    authorised yet. Best effort: without it the receipt just says "your card"."""
    pending = (Payment.State.CREATED, Payment.State.REQUIRES_ACTION)
    if intent.status != "requires_capture" or not intent.payment_method:
        return None
    if payment.state not in pending:
        return None
    try:
        return gateway.payment_method_card(intent.payment_method)
    except StripeError:
        logger.warning("could not read the card of %s", intent.id, exc_info=True)
        return None


def _apply(
    payment_id: int,
    intent: gateway.PaymentIntentView,
    *,
    card: gateway.CardView | None = None,
) -> tuple[Payment, bool]:
    """Move the payment (and its shares) forward to what Stripe says, in one transaction.
    Returns the payment and whether its authorisation must be released at Stripe (it was
    authorised after we had given the payment up). ``card`` (``_card_read``) is kept
    with the authorisation."""
    release = False
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update(of=("self",)).get(payments__pk=payment_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        now = timezone.now()
        status = intent.status
        pending = (Payment.State.CREATED, Payment.State.REQUIRES_ACTION)
        if status == "requires_capture" and checkout.state == Checkout.State.CANCELLED:
            # Authorised after the checkout was cancelled (a payer mid-payment at the
            # deadline): nobody will capture it; release it at Stripe.
            if payment.state in pending:
                travellers = _detach(
                    payment, error="checkout cancelled", state=Payment.State.CANCELLED
                )
                _shares_release(checkout, travellers)
            release = payment.state in (Payment.State.FAILED, Payment.State.CANCELLED)
        elif status == "requires_capture":
            if payment.state in pending:
                payment.state = Payment.State.AUTHORISED
                payment.authorised_at = now
                if card is not None:
                    payment.card_brand, payment.card_last4 = card.brand[:32], card.last4
                changed = ["state", "authorised_at", "card_brand", "card_last4"]
                payment.save(update_fields=[*changed, "updated_at"])
                shares = Share.objects.filter(payment=payment, state=Share.State.UNPAID)
                travellers = list(shares.values_list("traveller_id", flat=True))
                shares.update(state=Share.State.AUTHORISED, updated_at=now)
                _payments_changed(checkout, travellers, Share.State.AUTHORISED)
                message_queue(
                    kind="payments.payment_received",
                    object_id=payment.pk,
                    recipient_ids=[payment.payer_id],
                    trip_id=checkout.trip_id,
                )
                message_queue(
                    kind="payments.friend_paid",
                    object_id=payment.pk,
                    recipient_ids=Share.objects.filter(checkout=checkout)
                    .exclude(traveller_id=payment.payer_id)
                    .values_list("traveller_id", flat=True),
                    trip_id=checkout.trip_id,
                )
            elif payment.state in (Payment.State.FAILED, Payment.State.CANCELLED):
                release = True
        elif status == "requires_action":
            if payment.state == Payment.State.CREATED:
                payment.state = Payment.State.REQUIRES_ACTION
                payment.save(update_fields=["state", "updated_at"])
        elif (
            status == "canceled" or (status == "requires_payment_method" and intent.last_error_code)
        ) and payment.state in (*pending, Payment.State.AUTHORISED):
            error = intent.last_error_code or "canceled"
            travellers = _detach(payment, error=f"{error}: {intent.last_error_message or ''}")
            _payments_changed(checkout, travellers, Share.State.UNPAID)
        # "succeeded" (captured): only checkout_confirm captures, and records it itself.
    return payment, release


def _after_sync(payment: Payment) -> None:
    """The last authorisation queues the booking's confirmation for the worker: the
    captures (one Stripe call per payment, and a check of each before) never run in the
    payer's request or in Stripe's webhook request."""
    if (
        payment.state == Payment.State.AUTHORISED
        and not Share.objects.filter(
            checkout_id=payment.checkout_id, state=Share.State.UNPAID
        ).exists()
    ):
        checkout_confirm_enqueue(checkout_id=payment.checkout_id)


def _release_authorisation(payment: Payment) -> None:
    """Best effort: an authorisation we no longer want is cancelled at Stripe (the
    reconciliation finds it again if this fails)."""
    try:
        gateway.payment_intent_cancel(
            payment.stripe_payment_intent_id, idempotency_key=payment.idempotency_key("cancel")
        )
    except StripeError:
        logger.warning("could not cancel %s", payment.stripe_payment_intent_id, exc_info=True)


def payment_sync(*, payment_id: int) -> Payment:
    """Read the payment's PaymentIntent again and move on: ``requires_capture`` →
    authorised (payment and shares), ``requires_action`` → waiting for the bank,
    cancelled or declined → failed (its shares unpaid again, for a new payment). Safe to
    call any number of times, in any order (the page, a webhook, the worker). When every
    share of the checkout is authorised, queues the booking's confirmation
    (``checkout_confirm_enqueue``: the worker captures and books)."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise CheckoutNotFound()
    if not payment.stripe_payment_intent_id or payment.state == Payment.State.CAPTURED:
        return payment
    intent = gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
    payment, release = _apply(payment.pk, intent, card=_card_read(payment, intent))
    if release:
        _release_authorisation(payment)
    _after_sync(payment)
    return payment


def payment_start_expire(*, payment_id: int, now=None) -> bool:
    """A payment started more than ``PAYMENT_START_TIMEOUT_SECONDS`` ago and still not
    authorised (created, or waiting for the bank) gives its shares back: its
    PaymentIntent is read again (authorised meanwhile: it is applied as any sync, and
    kept), else cancelled at Stripe (key ``pi-cancel-<payment key>``, the same as every
    cancel of it: a retry replays), then the payment is ``cancelled`` and its shares unpaid
    again, for anyone to pay. Idempotent; a payment that moved on meanwhile is left as it
    is. Returns whether it freed the shares. (A cancel made at Stripe whose commit here
    was lost is repaired by ``reconcile``: Stripe says ``canceled``.)"""
    now = now or timezone.now()
    timeout = dt.timedelta(seconds=_config("PAYMENT_START_TIMEOUT_SECONDS"))
    payment = Payment.objects.filter(
        pk=payment_id, state__in=PENDING_PAYMENT_STATES, created_at__lte=now - timeout
    ).first()
    if payment is None:
        return False
    if payment.stripe_payment_intent_id:
        intent = gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
        if intent.status in ("requires_capture", "processing", "succeeded"):
            payment_sync(payment_id=payment.pk)  # the card came in time after all
            return False
        if intent.status != "canceled":
            gateway.payment_intent_cancel(
                payment.stripe_payment_intent_id, idempotency_key=payment.idempotency_key("cancel")
            )
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update(of=("self",)).get(payments__pk=payment_id)
        locked = Payment.objects.select_for_update().get(pk=payment_id)
        if locked.state not in PENDING_PAYMENT_STATES:
            return False
        travellers = _detach(locked, error="not authorised in time", state=Payment.State.CANCELLED)
        _payments_changed(checkout, travellers, Share.State.UNPAID)
    return True


# --- Confirm ---------------------------------------------------------------------------------


def _holds_until(checkout: Checkout):
    """When the checkout's held seats expire: its deadline (or grace), and never sooner
    than a margin from now, so the deadline worker applies the policy before any read
    takes the seats for free (``payments.deadlines``)."""
    margin = dt.timedelta(seconds=_config("PAYMENT_HOLD_MARGIN_SECONDS"))
    return max(checkout.grace_until or checkout.deadline_at, timezone.now() + margin)


# A confirmation under way keeps its checkout for this long before the worker takes it
# over (a process that died mid-way); also the first retry's delay (``payments.tasks``).
CONFIRM_LEASE = dt.timedelta(seconds=60)


def _confirming(checkout: Checkout, *, queued: bool = False) -> None:
    """Under the checkout's lock: ``confirming``, and the seats wait for the captures,
    whatever the deadline. ``queued``: the worker confirms it at once (the task);
    otherwise the caller confirms it now and the worker takes over only after
    ``CONFIRM_LEASE`` (a crash mid-way)."""
    now = timezone.now()
    checkout.state = Checkout.State.CONFIRMING
    checkout.confirm_after = now if queued else now + CONFIRM_LEASE
    checkout.confirm_attempts = 0
    checkout.save(update_fields=["state", "confirm_after", "confirm_attempts", "updated_at"])
    SeatAllocation.objects.filter(
        share_item__share__checkout=checkout, state=AllocationState.HELD
    ).update(expires_at=None, updated_at=timezone.now())


def _every_share_paid(checkout: Checkout) -> bool:
    states = set(
        checkout.shares.exclude(state=Share.State.RELEASED).values_list("state", flat=True)
    )
    return bool(states) and states <= {Share.State.AUTHORISED, Share.State.CAPTURED}


def checkout_confirm_enqueue(*, checkout_id: int) -> Checkout:
    """Queue the booking's confirmation for the worker (``payments.tasks.
    checkout_confirmations`` runs ``checkout_confirm``, retried with backoff): an open
    checkout whose every share is authorised becomes ``confirming``, due at once, in this
    transaction; the task is the row itself, so it cannot be lost between a commit and a
    queue. Not every share paid: nothing. Already ``confirming`` (queued, or under way
    with its lease), confirmed or cancelled: nothing (idempotent)."""
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().filter(pk=checkout_id).first()
        if checkout is None:
            raise CheckoutNotFound()
        if checkout.state in OPEN_STATES and _every_share_paid(checkout):
            _confirming(checkout, queued=True)
            jobs.wake("payment_confirmations")  # after the commit: the worker starts now
    return checkout


def checkout_confirm(*, checkout_id: int) -> Checkout:
    """Every share is authorised: book. ``confirming`` is committed first (a crash in
    between is visible, and a second call resumes), the seats stop expiring, every
    authorisation is checked then captured (key ``pi-capture-<payment>``: a retried
    capture is a no-op at Stripe), then one transaction captures the shares, books the
    seats and issues the tickets, and confirms. An authorisation that fell (cancelled,
    expired) or a capture that fails: that payment fails, its shares are unpaid again,
    the checkout is open again, and no further capture is started. A confirmed
    checkout is left as it is. Stripe out of reach: ``StripeUnavailable`` with the
    checkout still ``confirming``, for a retry.

    The checks, then the captures, run side by side (``gateway.each``, up to
    ``STRIPE_CALLS_AT_ONCE``): 2N+1 calls one after another made a group of 9 wait for 19
    round trips. Once one capture fails no other starts; those already under way finish,
    and every one that succeeded is recorded as captured, as before."""
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().filter(pk=checkout_id).first()
        if checkout is None:
            raise CheckoutNotFound()
        if checkout.state in (Checkout.State.CONFIRMED, Checkout.State.CANCELLED):
            return checkout
        if checkout.state in OPEN_STATES:
            if not _every_share_paid(checkout):
                raise CheckoutNotReady(_("Not every share is paid yet."))
            _confirming(checkout)
    payments = list(
        Payment.objects.filter(
            checkout_id=checkout_id, state__in=[Payment.State.AUTHORISED, Payment.State.CAPTURED]
        ).order_by("pk")
    )
    to_capture = [p for p in payments if p.state == Payment.State.AUTHORISED]

    # Every authorisation must still stand before anyone is charged: checked side by side
    # (gateway.each), as the captures after them; no lock is held meanwhile.
    fallen = []
    for payment, intent in gateway.each(_intent_read, to_capture):
        if isinstance(intent, Exception):
            raise intent
        if intent.status not in ("requires_capture", "succeeded"):
            fallen.append((payment, f"{intent.status}: {intent.last_error_message or ''}"))
    if fallen:
        return _confirm_abort(checkout_id, fallen, captured=[])
    answers = gateway.each(_intent_capture, to_capture)
    captured = [payment for payment, answer in answers if not isinstance(answer, Exception)]
    refused = [(payment, answer) for payment, answer in answers if isinstance(answer, Exception)]
    for _payment, error in refused:
        if not isinstance(error, StripeError) or isinstance(error, StripeUnavailable):
            # Out of reach (or a bug): what was captured is recorded, the rest is retried.
            _confirm_record_captured(checkout_id, captured)
            raise error
    if refused:
        failed = [
            (payment, f"{error.code}: {error.stripe_message or error.message}")
            for payment, error in refused
        ]
        return _confirm_abort(checkout_id, failed, captured=captured)

    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
        if checkout.state != Checkout.State.CONFIRMING:
            return checkout  # another call finished it
        if checkout.shares.filter(state=Share.State.UNPAID).exists():
            # A payment fell while we were capturing (a webhook or the page synced a
            # cancelled authorisation): book nobody rather than without them; the
            # captured are kept, the checkout opens again and the deadline rules apply.
            transaction.set_rollback(True)
        else:
            checkout = None
    if checkout is not None:
        return _confirm_abort(checkout_id, [], captured=captured)

    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
        if checkout.state != Checkout.State.CONFIRMING:
            return checkout  # another call finished it
        now = timezone.now()
        Payment.objects.filter(pk__in=[p.pk for p in to_capture]).update(
            state=Payment.State.CAPTURED, captured_at=now, updated_at=now
        )
        shares = Share.objects.filter(
            checkout=checkout, state__in=[Share.State.AUTHORISED, Share.State.CAPTURED]
        )
        shares.update(state=Share.State.CAPTURED, updated_at=now)
        items = ShareItem.objects.filter(
            share__checkout=checkout, share__state=Share.State.CAPTURED
        ).select_related("share")
        booking_confirm(
            trip_id=checkout.trip_id,
            items=[
                TicketItem(
                    allocation_id=item.allocation_id,
                    traveller_id=item.share.traveller_id,
                    leg_id=item.leg_id,
                    fare_class_id=item.fare_class_id,
                    passenger_type_id=item.passenger_type_id,
                    discount_card_id=item.discount_card_id,
                    price_cents=item.amount_cents,
                    currency=item.share.currency,
                )
                for item in items
            ],
        )
        checkout.state = Checkout.State.CONFIRMED
        checkout.confirmed_at = now
        checkout.save(update_fields=["state", "confirmed_at", "updated_at"])
    return checkout


def _intent_read(payment: Payment) -> gateway.PaymentIntentView:
    return gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)


def _intent_capture(payment: Payment) -> gateway.PaymentIntentView:
    return gateway.payment_intent_capture(
        payment.stripe_payment_intent_id, idempotency_key=payment.idempotency_key("capture")
    )


def _confirm_record_captured(checkout_id: int, captured: list[Payment]) -> None:
    """Payments captured at Stripe are captured here too, whatever happens next."""
    if not captured:
        return
    with transaction.atomic():
        now = timezone.now()
        Payment.objects.filter(pk__in=[p.pk for p in captured]).update(
            state=Payment.State.CAPTURED, captured_at=now, updated_at=now
        )
        Share.objects.filter(payment__in=[p.pk for p in captured]).update(
            state=Share.State.CAPTURED, updated_at=now
        )


def _confirm_abort(
    checkout_id: int, failed: list[tuple[Payment, str]], *, captured: list[Payment]
) -> Checkout:
    """Some authorisation fell: those payments fail, their shares are unpaid again, the
    checkout opens again (the deadline rules apply), the seats expire with it again."""
    with transaction.atomic():
        checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
        _confirm_record_captured(checkout_id, captured)
        travellers = []
        for stale, error in failed:
            payment = Payment.objects.select_for_update().get(pk=stale.pk)
            travellers += _detach(payment, error=error)
        now = timezone.now()
        in_grace = checkout.grace_until is not None and now >= checkout.deadline_at
        checkout.state = Checkout.State.GRACE if in_grace else Checkout.State.OPEN
        checkout.save(update_fields=["state", "updated_at"])
        SeatAllocation.objects.filter(
            share_item__share__checkout=checkout, state=AllocationState.HELD
        ).update(expires_at=_holds_until(checkout), updated_at=now)
        _payments_changed(checkout, travellers, Share.State.UNPAID)
    for payment, _error in failed:
        _release_authorisation(payment)
    return checkout


# --- The deadline (run by the worker: payments.deadlines) ----------------------------------

PENDING_PAYMENT_STATES = (Payment.State.CREATED, Payment.State.REQUIRES_ACTION)
LIVE_PAYMENT_STATES = (*PENDING_PAYMENT_STATES, Payment.State.AUTHORISED)
# A payment without its PaymentIntent yet is a payer's request under way: left to finish
# for this long before a cancelled checkout gives it up.
PAYMENT_START_GRACE = dt.timedelta(minutes=2)


def _shares_release(checkout: Checkout, travellers: list[int]) -> None:
    """Under the checkout's lock: these travellers' shares are released (uncovered) and
    their seats freed; the trip is told."""
    if not travellers:
        return
    dropped = Share.objects.filter(checkout=checkout, traveller_id__in=travellers).exclude(
        state__in=[Share.State.CAPTURED, Share.State.REFUNDED]
    )
    # Their credit goes back to them (payments.credits), in this same transaction.
    credits.shares_credit_release(dropped.values_list("pk", flat=True))
    dropped.update(state=Share.State.RELEASED, payment=None, updated_at=timezone.now())
    allocations = ShareItem.objects.filter(
        share__checkout=checkout, share__traveller_id__in=travellers
    ).values_list("allocation_id", flat=True)
    plan.seats_release(
        trip_id=checkout.trip_id, allocation_ids=list(allocations), reason="unpaid_at_deadline"
    )
    _payments_changed(checkout, travellers, Share.State.RELEASED)


def _is_due(checkout: Checkout, now) -> bool:
    if checkout.state == Checkout.State.OPEN:
        return checkout.deadline_at <= now
    if checkout.state == Checkout.State.GRACE:
        return checkout.grace_until is None or checkout.grace_until <= now
    return False


def checkout_deadline(*, checkout_id: int, now=None) -> str:
    """Apply the checkout's policy once its deadline (or grace) has passed with shares
    unpaid. Safe in several workers at once and again after a crash: the checkout is
    claimed with ``skip_locked`` and its state moves in the same transaction, so a second
    run finds nothing to do. Returns what it did: ``""`` (not due, or another worker has
    it), ``"grace"``, ``"go_ahead"``, ``"confirm"`` or ``"cancel"``.

    - nothing unpaid (every share authorised): confirm;
    - ``grace`` at the deadline: the grace period opens (``grace_until``, set once), any
      traveller may still cover the unpaid shares; at its end: cancel;
    - ``go_ahead`` with someone authorised: the unpaid travellers' shares and seats are
      released, their pending PaymentIntents cancelled, the rest confirmed;
    - otherwise (``cancel_all``, nobody paid, grace over): cancel (``checkout_cancel``).

    Stripe is called after the claim's transaction (cancels, captures, refunds), each with
    its payment's key."""
    now = now or timezone.now()
    cancelled_payments: list[Payment] = []
    with transaction.atomic():
        checkout = (
            Checkout.objects.select_for_update(skip_locked=True)
            .filter(pk=checkout_id, state__in=OPEN_STATES)
            .first()
        )
        if checkout is None or not _is_due(checkout, now):
            return ""
        shares = list(checkout.shares.exclude(state=Share.State.RELEASED).order_by("pk"))
        unpaid = [s for s in shares if s.state == Share.State.UNPAID]
        paid = [s for s in shares if s.state in (Share.State.AUTHORISED, Share.State.CAPTURED)]
        if not unpaid and paid:
            action = "confirm"
            _confirming(checkout)
        elif checkout.policy == Checkout.Policy.GRACE and checkout.state == Checkout.State.OPEN:
            if checkout.grace_until is None:
                checkout.grace_until = now + dt.timedelta(hours=_config("PAYMENT_GRACE_HOURS"))
            if checkout.grace_until > now:
                action = "grace"
                checkout.state = Checkout.State.GRACE
                checkout.save(update_fields=["state", "grace_until", "updated_at"])
                SeatAllocation.objects.filter(
                    share_item__share__checkout=checkout, state=AllocationState.HELD
                ).update(expires_at=_holds_until(checkout), updated_at=now)
                trip = Trip.objects.select_for_update().get(pk=checkout.trip_id)
                plan.record(
                    trip,
                    "checkout_grace",
                    {
                        "checkout_id": checkout.pk,
                        "grace_until": checkout.grace_until.isoformat(),
                        "travellers": sorted(s.traveller_id for s in unpaid),
                    },
                )
            else:
                action = "cancel"
        elif checkout.policy == Checkout.Policy.GO_AHEAD and paid:
            action = "go_ahead"
            covering = {s.payment_id for s in unpaid if s.payment_id is not None}
            for payment in Payment.objects.select_for_update().filter(
                pk__in=covering, state__in=PENDING_PAYMENT_STATES
            ):
                _detach(payment, error="deadline passed", state=Payment.State.CANCELLED)
                cancelled_payments.append(payment)
            _shares_release(checkout, [s.traveller_id for s in unpaid])
            dropped = {
                "trip_id": checkout.trip_id,
                "checkout_id": checkout.pk,
                "traveller_ids": sorted(s.traveller_id for s in unpaid),
            }
            transaction.on_commit(
                lambda: signals.travellers_dropped.send(sender=Checkout, **dropped)
            )
            # Each of them is told they are not travelling (essential: it is about money
            # and a seat): written with the change, sent by the outbox after commit.
            message_queue(
                kind="payments.traveller_dropped",
                object_id=checkout.pk,
                recipient_ids=dropped["traveller_ids"],
                trip_id=checkout.trip_id,
            )
            _confirming(checkout)
        else:
            action = "cancel"
        if action == "cancel":
            _checkout_cancel_locked(checkout, reason="deadline")
    for payment in cancelled_payments:
        if payment.stripe_payment_intent_id:
            _release_authorisation(payment)
    if action in ("confirm", "go_ahead"):
        checkout_confirm(checkout_id=checkout_id)
    elif action == "cancel":
        checkout_cancel_settle(checkout_id=checkout_id)
    return action


def _checkout_cancel_locked(checkout: Checkout, *, reason: str) -> None:
    """Under the checkout's lock: cancelled, every seat of it released, the trip back to
    planning (the group may adjust and start again), shares nobody covers released. The
    payments are settled at Stripe after commit (``checkout_cancel_settle``)."""
    now = timezone.now()
    checkout.state = Checkout.State.CANCELLED
    checkout.save(update_fields=["state", "updated_at"])
    uncovered = Share.objects.filter(
        checkout=checkout, state=Share.State.UNPAID, payment__isnull=True
    )
    travellers = list(uncovered.values_list("traveller_id", flat=True))
    uncovered.update(state=Share.State.RELEASED, updated_at=now)
    # Nobody is booked: every credit reserved on the checkout goes back to its owner.
    credits.shares_credit_release(
        Share.objects.filter(checkout=checkout).values_list("pk", flat=True)
    )
    allocations = ShareItem.objects.filter(share__checkout=checkout).values_list(
        "allocation_id", flat=True
    )
    plan.seats_release(
        trip_id=checkout.trip_id,
        allocation_ids=list(allocations),
        reason="checkout_cancelled",
        trip_status=Trip.Status.PLANNING,
    )
    trip = Trip.objects.select_for_update().get(pk=checkout.trip_id)
    plan.record(trip, "checkout_cancelled", {"checkout_id": checkout.pk, "reason": reason})
    message_queue(
        kind="payments.checkout_cancelled",
        object_id=checkout.pk,
        recipient_ids=Share.objects.filter(checkout=checkout).values_list(
            "traveller_id", flat=True
        ),
        trip_id=checkout.trip_id,
    )
    _payments_changed(checkout, travellers, Share.State.RELEASED)


def checkout_cancel_settle(*, checkout_id: int, now=None) -> int:
    """Settle the money of a cancelled checkout: every PaymentIntent not captured is
    cancelled at Stripe (key ``pi-cancel-<payment key>``) and recorded ``cancelled``, its
    shares released; a payment already captured (a confirmation that failed half-way) is
    refunded in full (key ``refund-all-<payment key>``), its shares ``refunded``. Stripe
    out of reach: that payment stays as it is and the next run tries again with the same
    key. Returns how many payments it settled."""
    now = now or timezone.now()
    settled = 0
    payments = Payment.objects.filter(
        checkout_id=checkout_id,
        checkout__state=Checkout.State.CANCELLED,
        state__in=[*LIVE_PAYMENT_STATES, Payment.State.CAPTURED],
    ).order_by("pk")
    for payment in payments:
        if payment.state == Payment.State.CAPTURED:
            settled += _payment_refund_all(payment)
            continue
        if not payment.stripe_payment_intent_id:
            if payment.created_at > now - PAYMENT_START_GRACE:
                continue  # payment_start is still creating its intent
        else:
            try:
                intent = gateway.payment_intent_cancel(
                    payment.stripe_payment_intent_id,
                    idempotency_key=payment.idempotency_key("cancel"),
                )
            except StripeUnavailable:
                logger.warning("cancel of %s postponed", payment.stripe_payment_intent_id)
                continue
            except StripeError:
                intent = gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
            if intent.status == "succeeded":  # captured after all: give it back
                with transaction.atomic():
                    Payment.objects.filter(pk=payment.pk).update(
                        state=Payment.State.CAPTURED, captured_at=now, updated_at=now
                    )
                payment.state = Payment.State.CAPTURED
                settled += _payment_refund_all(payment)
                continue
            if intent.status != "canceled":
                logger.warning("%s is %s, not cancelled", intent.id, intent.status)
                continue
        with transaction.atomic():
            checkout = Checkout.objects.select_for_update().get(pk=checkout_id)
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            if locked.state not in LIVE_PAYMENT_STATES:
                continue
            travellers = _detach(locked, error="checkout cancelled", state=Payment.State.CANCELLED)
            Share.objects.filter(checkout=checkout, traveller_id__in=travellers).update(
                state=Share.State.RELEASED, updated_at=now
            )
            _payments_changed(checkout, travellers, Share.State.RELEASED)
        settled += 1
    return settled


def _payment_refund_all(payment: Payment) -> int:
    """A captured payment of a cancelled checkout is refunded in full, once."""
    with transaction.atomic():
        refund, _created = Refund.objects.get_or_create(
            idempotency_key=f"refund-all-{payment.key}",
            defaults={
                "payment": payment,
                "amount_cents": payment.amount_cents,
                "currency": payment.currency,
            },
        )
    if refund.state != Refund.State.PENDING:
        return 0
    if not _refund_send(refund):
        return 0
    with transaction.atomic():
        Share.objects.filter(payment=payment, state=Share.State.CAPTURED).update(
            state=Share.State.REFUNDED, updated_at=timezone.now()
        )
    return 1


def _refund_send(refund: Refund) -> bool:
    """Ask Stripe for the refund (outside any transaction; its key makes a retry a
    replay) and record the answer. Stripe out of reach: still pending (the worker retries
    it, ``refunds_retry``). Returns whether it succeeded."""
    try:
        answer = gateway.refund_create(
            payment_intent_id=refund.payment.stripe_payment_intent_id,
            amount_cents=refund.amount_cents,
            idempotency_key=refund.idempotency_key,
        )
    except StripeUnavailable:
        logger.warning("refund %s postponed", refund.idempotency_key)
        return False
    except StripeError as error:
        logger.error("refund %s refused: %s", refund.idempotency_key, error.stripe_message)
        with transaction.atomic():
            Refund.objects.filter(pk=refund.pk, state=Refund.State.PENDING).update(
                state=Refund.State.FAILED,
                last_error=f"{error.stripe_code}: {error.stripe_message}"[:500],
                updated_at=timezone.now(),
            )
        return False
    with transaction.atomic():
        Refund.objects.filter(pk=refund.pk).update(
            state=Refund.State.SUCCEEDED,
            stripe_refund_id=answer.id,
            updated_at=timezone.now(),
        )
    refund.state, refund.stripe_refund_id = Refund.State.SUCCEEDED, answer.id
    return True


def refunds_retry(*, older_than_seconds: int = 60) -> int:
    """Refunds still pending (Stripe was out of reach) are asked again with their key."""
    since = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    pending = Refund.objects.filter(state=Refund.State.PENDING, updated_at__lte=since)
    return sum(_refund_send(refund) for refund in pending.select_related("payment")[:100])


# --- After the booking: a traveller cancels a ticket -----------------------------------------


@dataclass(frozen=True)
class TicketCancelled:
    ticket: Ticket
    refund: Refund | None  # None: the fare refunds nothing


def _ticket_cancel_in_transaction(ticket: Ticket, *, by) -> Refund | None:
    """Inside the caller's transaction: cancel ``by``'s ``ticket`` (``booking``'s
    ticket_cancel: the seat free again, the trip told) and record the fare's refund
    (``refund_rules.ticket_refund_due``) to the payment that covered the share, with key
    ``refund-<ticket id>-<payment key>``. Returns the ticket's refund (None: the fare
    refunds nothing); Stripe is asked by the caller, after the commit."""
    checkout = (
        Checkout.objects.select_for_update()
        .filter(trip_id=ticket.booking.trip_id, state=Checkout.State.CONFIRMED)
        .first()
    )
    share = (
        Share.objects.select_related("payment")
        .filter(checkout=checkout, traveller_id=ticket.traveller_id)
        .first()
        if checkout
        else None
    )
    amount = ticket_refund_due(ticket, share)
    ticket, changed = booking_ticket_cancel(ticket_id=ticket.pk, by=by, refunded_cents=amount)
    if changed and amount > 0:
        Refund.objects.create(
            payment=share.payment,
            ticket=ticket,
            amount_cents=amount,
            currency=ticket.currency,
            idempotency_key=f"refund-{ticket.pk}-{share.payment.key}",
        )
    return Refund.objects.select_related("payment").filter(ticket=ticket).first()


def ticket_cancel(*, ticket_id: int, by) -> TicketCancelled:
    """The ticket's traveller (only them: anyone else finds no ticket) cancels it after
    the booking: the seat is free again, the trip is told (``ticket_cancelled``), and the
    fare's refund (``refund_rules.ticket_refund_due``) goes back to the card of the payment that
    covered their share, with key ``refund-<ticket id>-<payment key>``, asked of Stripe
    after the transaction. Twice: nothing more (a refund still pending is asked again
    with its key, so Stripe refunds once)."""
    ticket = Ticket.objects.select_related("fare_class", "booking").filter(pk=ticket_id).first()
    if ticket is None or by is None or not by.is_authenticated or ticket.traveller_id != by.pk:
        raise TicketNotFound()
    with transaction.atomic():
        refund = _ticket_cancel_in_transaction(ticket, by=by)
    ticket.refresh_from_db()
    if refund is not None and refund.state == Refund.State.PENDING:
        _refund_send(refund)
        refund.refresh_from_db()
    return TicketCancelled(ticket=ticket, refund=refund)


def tickets_cancel_of_leaving_account(*, user) -> list[Refund]:
    """The person deletes their account (``groups.signals.user_anonymising``, inside the
    deletion's transaction): every valid ticket of theirs whose train has not left is
    cancelled by its fare's rules, as if they had cancelled it, and refunded to whoever
    paid for it (a friend who covered the share included); nothing stays valid under a
    deleted name. Stripe is asked after the deletion commits (a refund Stripe cannot take
    now stays pending for ``refunds_retry``). Returns the refunds recorded."""
    from booking.selectors import tickets_still_to_use

    tickets = list(tickets_still_to_use(user_id=user.pk))
    refunds = []
    for ticket in tickets:
        refund = _ticket_cancel_in_transaction(ticket, by=user)
        if refund is not None and refund.state == Refund.State.PENDING:
            refunds.append(refund)
    for refund in refunds:
        transaction.on_commit(lambda refund=refund: _refund_send(refund))
    return refunds


@dataclass(frozen=True)
class CheckoutMoney:
    currency: str
    paid_cents: int  # captured
    refunded_cents: int  # refunds Stripe made
    refund_pending_cents: int

    @property
    def kept_cents(self) -> int:
        return self.paid_cents - self.refunded_cents


def checkout_money(*, checkout_id: int) -> CheckoutMoney:
    """A booking's totals (read only): what was paid, refunded and is on its way back."""
    checkout = Checkout.objects.get(pk=checkout_id)
    paid = Payment.objects.filter(checkout=checkout, state=Payment.State.CAPTURED).aggregate(
        n=Sum("amount_cents")
    )["n"]
    refunds = Refund.objects.filter(payment__checkout=checkout)
    done = refunds.filter(state=Refund.State.SUCCEEDED).aggregate(n=Sum("amount_cents"))["n"]
    pending = refunds.filter(state=Refund.State.PENDING).aggregate(n=Sum("amount_cents"))["n"]
    return CheckoutMoney(
        currency=checkout.currency,
        paid_cents=paid or 0,
        refunded_cents=done or 0,
        refund_pending_cents=pending or 0,
    )
