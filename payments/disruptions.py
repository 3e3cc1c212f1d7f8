"""The money side of disruptions (docs/disruptions.md): ``booking`` records what happened
to a departure and applies it trip by trip; inside each trip's transaction it asks us
first (``booking.signals.trip_disrupting``), and we

- cancel a checkout under way on a cancelled train, or on a train that changed vehicle
  (its held seats are on the old map): nobody is charged, every authorisation is released
  after commit (``checkout_cancel_settle``), the plan opens again;
- pay delay compensation (Regulation (EU) 2021/782, art. 19) once the actual arrival is
  known: 25 % of the ticket's price from 60 minutes late, 50 % from 120, once per ticket
  (``Compensation.ticket`` is unique), nothing below ``DELAY_COMPENSATION_MIN_CENTS``,
  never more than the card paid for it, as a partial refund to that card, or, when the
  traveller preferred (art. 19(4), ``compensation_preference_set``), as credit on a next
  trip: the same amount, no refund, spent through ``payments.credits`` (the source
  ``CompensationCredits``). One ``Compensation`` per ticket: never both, never twice.

And a traveller of a cancelled train who takes the full refund (art. 18) goes through
``disruption_refund_choose``.

Every refund has its idempotency key from our ids (``disruption-<ticket>-<payment key>``,
``compensation-<ticket>-<payment key>``); Stripe is asked after the commit, and a refund
Stripe could not take stays pending for the worker (``refunds_retry``) and ``reconcile``.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from booking import disruptions as booking_disruptions
from booking.models import Disruption, Ticket
from core import jobs, locking
from core.errors import Busy
from notices.services import message_queue
from payments.errors import CompensationAlreadyMade, CompensationNotOpen
from payments.models import (
    Checkout,
    Compensation,
    CompensationCreditUse,
    CompensationPreference,
    Refund,
    Share,
)

UNDER_WAY = (Checkout.State.OPEN, Checkout.State.GRACE)

# Art. 19(1): from 60 minutes late 25 % of the ticket's price, from 120 minutes 50 %.
COMPENSATION_STEPS = ((120, 50), (60, 25))


def compensation_percent(delay_minutes: int) -> int:
    for minutes, percent in COMPENSATION_STEPS:
        if delay_minutes >= minutes:
            return percent
    return 0


def on_trip_disrupting(
    sender, *, trip_id: int, disruption_id: int, departure_id: int, what: str, **kwargs
) -> None:
    if what in ("cancelled", "vehicle_swapped"):
        _checkout_cancel_for(trip_id, departure_id)
    elif what == "delay_actual":
        compensations_make(trip_id=trip_id, disruption_id=disruption_id)


def _checkout_cancel_for(trip_id: int, departure_id: int) -> None:
    from payments.services import _checkout_cancel_locked, checkout_cancel_settle

    live = Checkout.objects.filter(
        trip_id=trip_id,
        state__in=[*UNDER_WAY, Checkout.State.CONFIRMING],
        shares__items__allocation__departure_id=departure_id,
    ).values_list("pk", flat=True)
    ids = locking.ids_lock(Checkout.objects.filter(pk__in=list(live)))
    for checkout in Checkout.objects.filter(pk__in=ids):
        if checkout.state == Checkout.State.CONFIRMING:
            # Captures are under way: the booking is made or undone first; the worker
            # comes back to this trip at its next pass (then booked: the travellers choose).
            raise Busy()
        _checkout_cancel_locked(checkout, reason="departure_cancelled")
        transaction.on_commit(
            lambda checkout_id=checkout.pk: checkout_cancel_settle(checkout_id=checkout_id)
        )


def _card_left(ticket: Ticket, share: Share | None) -> int:
    """What may still go back to the card for ``ticket``: what is left of its price, and
    for a share partly paid by credit, at most what the card paid for the share less what
    the traveller's tickets of the booking already got back (credit is never paid out)."""
    if share is None or share.payment_id is None:
        return 0
    left = ticket.price_cents - ticket.refunded_cents
    if share.credit_cents:
        already = Ticket.objects.filter(
            booking_id=ticket.booking_id, traveller_id=ticket.traveller_id
        ).aggregate(n=Sum("refunded_cents"))["n"]
        left = min(left, share.amount_cents - (already or 0))
    return max(0, left)


def _share_of(ticket: Ticket) -> Share | None:
    return (
        Share.objects.select_related("payment")
        .filter(
            checkout__trip_id=ticket.booking.trip_id,
            checkout__state=Checkout.State.CONFIRMED,
            traveller_id=ticket.traveller_id,
            payment__isnull=False,
        )
        .first()
    )


def compensations_make(*, trip_id: int, disruption_id: int) -> list[Compensation]:
    """Inside the caller's transaction: a compensation for each valid ticket of the trip
    on the late train that has none yet; the refunds asked of Stripe after commit."""
    disruption = Disruption.objects.select_related("departure").get(pk=disruption_id)
    delay = disruption.delay_minutes or 0
    percent = compensation_percent(delay)
    if disruption.actual_arrival_at is None or not percent:
        return []
    checkout = Checkout.objects.filter(trip_id=trip_id, state=Checkout.State.CONFIRMED).first()
    if checkout is not None:
        locking.rows_lock(Checkout.objects.filter(pk=checkout.pk))
    tickets = list(
        Ticket.objects.select_related("booking")
        .filter(
            booking__trip_id=trip_id,
            state=Ticket.State.VALID,
            allocation__departure_id=disruption.departure_id,
            compensation__isnull=True,
        )
        .order_by("pk")
    )
    shares = {
        s.traveller_id: s
        for s in Share.objects.select_related("payment").filter(
            checkout=checkout, payment__isnull=False
        )
    }
    # Read under the checkout's lock, which ``compensation_preference_set`` takes too.
    credit = set(
        CompensationPreference.objects.filter(
            disruption=disruption, form=CompensationPreference.Form.CREDIT
        ).values_list("traveller_id", flat=True)
    )
    made, refunds = [], []
    minimum = settings.SIDEBYSIDE["DELAY_COMPENSATION_MIN_CENTS"]
    for ticket in tickets:
        share = shares.get(ticket.traveller_id)
        amount = min(ticket.price_cents * percent // 100, _card_left(ticket, share))
        compensation = Compensation(
            ticket=ticket,
            disruption=disruption,
            delay_minutes=delay,
            percent=percent,
            amount_cents=amount,
            currency=ticket.currency,
        )
        if share is None or amount <= 0:
            compensation.state, compensation.amount_cents = Compensation.State.NOTHING_CAPTURED, 0
        elif amount < minimum:
            compensation.state = Compensation.State.BELOW_THRESHOLD
        elif ticket.traveller_id in credit:
            # Credit on a next trip: nothing goes back to the card, the ticket's refunded
            # amount stays; the credit source below offers it at the next checkout.
            compensation.state = Compensation.State.CREDITED
        else:
            compensation.state = Compensation.State.PAID
            compensation.refund = Refund.objects.create(
                payment=share.payment,
                ticket=ticket,
                amount_cents=amount,
                currency=ticket.currency,
                reason=Refund.Reason.DELAY,
                idempotency_key=f"compensation-{ticket.pk}-{share.payment.key}",
            )
            booking_disruptions.ticket_refund_add(ticket_id=ticket.pk, cents=amount)
            refunds.append(compensation.refund)
        compensation.save()
        made.append(compensation)
    told = (Compensation.State.PAID, Compensation.State.CREDITED)
    paid = sorted({c.ticket.traveller_id for c in made if c.state in told})
    if paid:
        message_queue(
            kind="payments.delay_compensation",
            object_id=disruption.pk,
            recipient_ids=paid,
            trip_id=trip_id,
        )
    _refunds_send_after_commit(refunds)
    return made


def _refunds_send_after_commit(refunds: list[Refund]) -> None:
    if refunds:
        jobs.wake("disruption_refunds")
        transaction.on_commit(lambda: disruption_refunds_send(ids=[r.pk for r in refunds]))


def disruption_refunds_send(*, ids: list[int] | None = None, limit: int = 200) -> int:
    """Ask Stripe for the refunds of disruptions still pending (these ``ids``, or the
    oldest ``limit``), each with its key: a refund asked twice is refunded once. The
    worker's job (``disruption_refunds``) and after each commit that records some."""
    from payments.services import _refund_send

    pending = Refund.objects.filter(
        state=Refund.State.PENDING,
        reason__in=[Refund.Reason.TRAIN_CANCELLED, Refund.Reason.DELAY],
    ).select_related("payment")
    if ids is not None:
        pending = pending.filter(pk__in=ids)
    refunds = list(pending.order_by("pk")[:limit])
    # A cancelled train's refunds are hundreds of calls to Stripe, each waiting on the
    # network: several at once (each refund's key keeps two workers from refunding twice;
    # Stripe answers the second with the first's answer).
    threads = min(settings.SIDEBYSIDE["PAYMENT_CONFIRM_THREADS"], len(refunds))
    if threads <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return sum(_refund_send(refund) for refund in refunds)

    def send_in_thread(refund: Refund) -> bool:
        try:
            return _refund_send(refund)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="refund") as pool:
        return sum(pool.map(send_in_thread, refunds))


@dataclass(frozen=True)
class RefundChosen:
    ticket: Ticket
    refund: Refund | None


def disruption_refund_choose(*, ticket_id: int, by, send: bool = True) -> RefundChosen:
    """A traveller of a cancelled train takes the full refund of their ticket (no fee,
    whatever the fare): the ticket cancelled, the refund recorded with its key and asked
    of Stripe after the commit (``send``; the worker otherwise). Not theirs:
    ``ChoiceNotFound``; chosen before: ``ChoiceAlreadyMade``; too late:
    ``ChoiceDeadlinePassed`` — nothing written."""
    trip_id = Ticket.objects.filter(pk=ticket_id).values_list("booking__trip_id", flat=True).first()
    with transaction.atomic():
        if trip_id is not None:
            locking.rows_lock(
                Checkout.objects.filter(trip_id=trip_id, state=Checkout.State.CONFIRMED)
            )
        choice = booking_disruptions.choice_lock(ticket_id=ticket_id, by=by)
        ticket = Ticket.objects.select_related("booking").get(pk=choice.ticket_id)
        share = _share_of(ticket)
        amount = _card_left(ticket, share)
        ticket = booking_disruptions.choice_refund_record(
            choice=choice, refunded_cents=amount, by=by
        )
        refund = None
        if amount:
            refund = Refund.objects.create(
                payment=share.payment,
                ticket=ticket,
                amount_cents=amount,
                currency=ticket.currency,
                reason=Refund.Reason.TRAIN_CANCELLED,
                idempotency_key=f"disruption-{ticket.pk}-{share.payment.key}",
            )
            jobs.wake("disruption_refunds")
    if refund is not None and send:
        disruption_refunds_send(ids=[refund.pk])
        refund.refresh_from_db()
    return RefundChosen(ticket=ticket, refund=refund)


def _delay_tickets(*, disruption: Disruption, user_id: int):
    return Ticket.objects.filter(
        traveller_id=user_id,
        state=Ticket.State.VALID,
        allocation__departure_id=disruption.departure_id,
    )


def compensation_preference_set(*, disruption_id: int, by, form: str) -> CompensationPreference:
    """A traveller of a late train says how they want its compensation (art. 19(4)): to
    the card that paid (the default) or as credit on a next trip. Until it is made; after,
    ``CompensationAlreadyMade`` (never paid twice, nor both ways). No valid ticket of
    theirs on that train, not a delay, or an unknown form: ``CompensationNotOpen`` —
    nothing written. Takes the confirmed checkouts' locks that ``compensations_make``
    takes, so a choice and the compensation never cross."""
    if form not in CompensationPreference.Form.values:
        raise CompensationNotOpen()
    disruption = Disruption.objects.filter(pk=disruption_id, kind=Disruption.Kind.DELAY).first()
    if disruption is None or by is None or not by.is_authenticated:
        raise CompensationNotOpen()
    with transaction.atomic():
        trip_ids = set(
            _delay_tickets(disruption=disruption, user_id=by.pk).values_list(
                "booking__trip_id", flat=True
            )
        )
        if not trip_ids:
            raise CompensationNotOpen()
        locking.rows_lock(
            Checkout.objects.filter(trip_id__in=trip_ids, state=Checkout.State.CONFIRMED)
        )
        tickets = _delay_tickets(disruption=disruption, user_id=by.pk)
        if Compensation.objects.filter(ticket__in=tickets).exists():
            raise CompensationAlreadyMade()
        preference, _created = CompensationPreference.objects.update_or_create(
            traveller_id=by.pk, disruption=disruption, defaults={"form": form}
        )
    return preference


def _credited(user_ids, currency: str):
    return Compensation.objects.filter(
        state=Compensation.State.CREDITED,
        ticket__traveller_id__in=user_ids,
        currency__iexact=currency,
    )


def _credit_left(compensations) -> dict[int, int]:
    """Per compensation: its amount less what reservations still hold of it."""
    used = dict(
        CompensationCreditUse.objects.filter(
            compensation__in=[c.pk for c in compensations],
            state=CompensationCreditUse.State.USED,
        )
        .values("compensation_id")
        .annotate(n=Sum("amount_cents"))
        .values_list("compensation_id", "n")
    )
    return {c.pk: c.amount_cents - (used.get(c.pk) or 0) for c in compensations}


class CompensationCredits:
    """The credit source ``payments`` registers with its own registry
    (``payments.credits``, in ``PaymentsConfig.ready``): a traveller's delay compensations
    taken as credit pay part of their share on a next trip, oldest first. Called inside
    the payments' transactions (Compensation → CompensationCreditUse, by id, under the
    share's checkout)."""

    def available(self, *, user_ids: list[int], currency: str) -> dict[int, int]:
        compensations = list(_credited(user_ids, currency).select_related("ticket"))
        left = _credit_left(compensations)
        out: dict[int, int] = {}
        for c in compensations:
            out[c.ticket.traveller_id] = out.get(c.ticket.traveller_id, 0) + left[c.pk]
        return {user_id: cents for user_id, cents in out.items() if cents > 0}

    def reserve(self, *, share: Share, cents: int) -> int:
        compensations = locking.rows_lock(_credited([share.traveller_id], share.currency))
        compensations.sort(key=lambda c: (c.created_at, c.pk))
        left = _credit_left(compensations)
        wanted, uses = cents, []
        for c in compensations:
            take = min(left[c.pk], wanted)
            if take <= 0:
                continue
            uses.append(CompensationCreditUse(compensation=c, share=share, amount_cents=take))
            wanted -= take
            if not wanted:
                break
        CompensationCreditUse.objects.bulk_create(uses)
        return cents - wanted

    def release(self, *, share_ids: list[int]) -> int:
        uses = CompensationCreditUse.objects.filter(
            share_id__in=share_ids, state=CompensationCreditUse.State.USED
        )
        locking.rows_lock(
            Compensation.objects.filter(pk__in=uses.values("compensation_id").distinct())
        )
        locked = locking.rows_lock(uses)
        released = sum(u.amount_cents for u in locked)
        CompensationCreditUse.objects.filter(pk__in=[u.pk for u in locked]).update(
            state=CompensationCreditUse.State.RELEASED
        )
        return released
