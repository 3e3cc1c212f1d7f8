"""Reads of split payments: a payer's pay link, a checkout's shares."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core import signing

from groups.models import Membership
from payments.errors import CheckoutNotFound, PayLinkInvalid
from payments.models import Checkout, Payment, Refund, Share
from payments.services import PAY_LINK_SALT


@dataclass(frozen=True)
class PayLink:
    checkout: Checkout
    payer: object  # the user the link was made for


def pay_link_read(*, token: str) -> PayLink:
    """The checkout and payer of a pay link (``services.pay_link_token``). A forged
    token, or one whose checkout or payer is gone (or no longer travels):
    ``PayLinkInvalid``. It lasts as long as its checkout: the pay page shows what is
    left to do (pay, or see the tickets)."""
    try:
        data = signing.loads(token, salt=PAY_LINK_SALT)
        checkout_id, payer_id = int(data["c"]), int(data["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise PayLinkInvalid() from None
    checkout = Checkout.objects.select_related("trip").filter(pk=checkout_id).first()
    payer = get_user_model().objects.filter(pk=payer_id, is_active=True).first()
    if checkout is None or payer is None or checkout.state == Checkout.State.CANCELLED:
        raise PayLinkInvalid()
    if not Membership.objects.filter(
        group_id=checkout.trip.group_id, user=payer, status=Membership.Status.ACTIVE
    ).exists():
        raise PayLinkInvalid()
    return PayLink(checkout=checkout, payer=payer)


def checkout_shares(*, checkout: Checkout) -> list[Share]:
    """The checkout's shares with their traveller and covering payment, oldest first."""
    return list(
        Share.objects.filter(checkout=checkout)
        .select_related("traveller", "payment__payer")
        .prefetch_related("items")
        .order_by("pk")
    )


# --- Pages: the trip page's checkout, the pay page, the tickets (frontend/views_pay.py) ------


def checkout_current(*, trip_id: int) -> Checkout | None:
    """The trip's checkout that is not cancelled (at most one, a constraint says so)."""
    return (
        Checkout.objects.filter(trip_id=trip_id)
        .exclude(state=Checkout.State.CANCELLED)
        .select_related("trip")
        .first()
    )


@dataclass(frozen=True)
class TravellerStatus:
    """Where one traveller's share stands, as the viewer may see it. Its amount only when
    the viewer may see the traveller's price (their own, or the traveller shows their
    details to the group: ``Membership.shares_details``, docs/privacy.md)."""

    user_id: int
    name: str
    # unpaid, paying (a payment covers it, waiting), paid, released, refunded, cancelled
    # (booked, then every ticket of theirs cancelled: they left, or deleted their account)
    status: str
    is_me: bool
    paid_by_other: bool  # a friend covered it
    amount_cents: int | None = None  # None: not the viewer's to see
    currency: str = ""
    # Who covered it, named only to the traveller covered and to the payer (so the one can
    # pay the other back); everyone else reads "Paid by a friend".
    covered_by: str = ""


@dataclass(frozen=True)
class ShareLine:
    """One leg of a share, for its payer: what the money buys."""

    direction: str
    train: str
    departs_at: object
    origin: str
    destination: str
    seat: str
    fare: str
    passenger: str
    card: str
    amount_cents: int
    # Departure times are written in the station's zone, as on the ticket.
    origin_time_zone: str = "UTC"


@dataclass(frozen=True)
class CoverableShare:
    """A friend's unpaid share the payer may cover. Its amount only when the friend shows
    their details, or once the payer chose to cover it (paying for it means seeing it)."""

    share_id: int
    name: str
    amount_cents: int | None
    currency: str
    chosen: bool = False  # the payer chose to cover it (``cover_ids``)


@dataclass(frozen=True)
class PaidFor:
    """One share the viewer's own card pays for (authorised or captured)."""

    name: str
    is_me: bool
    amount_cents: int
    currency: str


@dataclass(frozen=True)
class CardUsed:
    """The card the viewer paid their own share with: shown to them only."""

    brand: str
    last4: str


@dataclass(frozen=True)
class CheckoutPage:
    checkout: Checkout
    travellers: list[TravellerStatus]
    mine: Share | None  # the viewer's own share (None when they do not travel)
    my_lines: list[ShareLine]
    coverable: list[CoverableShare]  # friends' unpaid, uncovered shares
    refunds_to_me: list = ()  # PayerRefund: tickets the viewer paid for, cancelled since
    # The card of the viewer's own payment of their share (a friend's card, when a friend
    # covered it, is never shown).
    my_card: CardUsed | None = None
    paid_for: list = ()  # PaidFor: what the viewer's card pays, their share first
    covered_me_by: str = ""  # the friend whose card paid the viewer's share

    @property
    def paid_total_cents(self) -> int:
        return sum(p.amount_cents for p in self.paid_for)

    @property
    def paid_for_others(self) -> bool:
        return any(not p.is_me for p in self.paid_for)

    @property
    def my_status(self) -> str:
        return next((t.status for t in self.travellers if t.is_me), "")

    @property
    def all_paid(self) -> bool:
        return all(t.status in ("paid", "released") for t in self.travellers)


@dataclass(frozen=True)
class PayerRefund:
    """A ticket the viewer paid for, cancelled since: whose, and what came back."""

    name: str
    amount_cents: int
    currency: str
    state: str  # pending, succeeded, failed


def _share_status(share: Share) -> str:
    if share.state == Share.State.UNPAID:
        return "paying" if share.payment_id else "unpaid"
    if share.state in (Share.State.AUTHORISED, Share.State.CAPTURED):
        return "paid"
    return share.state  # released, refunded


def checkout_page(*, checkout: Checkout, viewer, cover_ids=()) -> CheckoutPage:
    """The checkout as ``viewer`` may see it: everyone's status, with the amount only of
    those who show their details (``Membership.shares_details``) and the viewer's own; the
    viewer's own share with what it covers; what the viewer's card pays and for whom, or
    who covered the viewer; and the friends' unpaid shares the viewer may cover, with the
    amount only for those who show their details or that the viewer chose to cover
    (``cover_ids``: covering a friend means seeing what they owe, and no sooner). A fixed
    number of queries whatever the group's size."""
    from groups.models import Profile

    shares = list(
        Share.objects.filter(checkout=checkout)
        .select_related("traveller", "payment")
        .prefetch_related(
            "items__leg",
            "items__fare_class",
            "items__passenger_type",
            "items__discount_card",
            "items__allocation__seat__coach",
            "items__allocation__departure__origin",
            "items__allocation__departure__destination",
        )
        .order_by("pk")
    )
    people = {s.traveller_id for s in shares} | {
        s.payment.payer_id for s in shares if s.payment is not None
    }
    names = dict(Profile.objects.filter(user_id__in=people).values_list("user_id", "display_name"))
    viewer_id = getattr(viewer, "pk", None)
    shown = set(
        Membership.objects.filter(group_id=checkout.trip.group_id, shares_details=True).values_list(
            "user_id", flat=True
        )
    )
    shown.add(viewer_id)
    cover_ids = set(cover_ids)

    def name_of(share: Share) -> str:
        return names.get(share.traveller_id) or share.traveller.get_full_name() or "?"

    def covered_by(share: Share) -> str:
        """The payer's name, for the traveller covered and the payer only."""
        if share.payment is None or share.state == Share.State.UNPAID:
            return ""
        payer_id = share.payment.payer_id
        if payer_id == share.traveller_id or viewer_id not in (payer_id, share.traveller_id):
            return ""
        return names.get(payer_id) or "?"

    ticketed = None  # once booked: who still holds a valid ticket
    if checkout.state == Checkout.State.CONFIRMED:
        from booking.models import Ticket

        ticketed = set(
            Ticket.objects.filter(
                booking__trip_id=checkout.trip_id, state=Ticket.State.VALID
            ).values_list("traveller_id", flat=True)
        )

    def status_of(share: Share) -> str:
        status = _share_status(share)
        if status == "paid" and ticketed is not None and share.traveller_id not in ticketed:
            return "cancelled"  # never "paid" for someone who no longer travels
        return status

    travellers = [
        TravellerStatus(
            user_id=share.traveller_id,
            name=name_of(share),
            status=status_of(share),
            is_me=share.traveller_id == viewer_id,
            paid_by_other=share.payment is not None
            and share.payment.payer_id != share.traveller_id
            and share.state != Share.State.UNPAID,
            amount_cents=share.amount_cents if share.traveller_id in shown else None,
            currency=share.currency,
            covered_by=covered_by(share),
        )
        for share in shares
    ]
    mine = next((s for s in shares if s.traveller_id == viewer_id), None)
    paid = (Share.State.AUTHORISED, Share.State.CAPTURED)
    paid_for = sorted(
        (
            PaidFor(
                name=name_of(share),
                is_me=share.traveller_id == viewer_id,
                amount_cents=share.amount_cents,
                currency=share.currency,
            )
            for share in shares
            if share.state in paid
            and share.payment is not None
            and share.payment.payer_id == viewer_id
        ),
        key=lambda p: not p.is_me,
    )
    lines = []
    if mine is not None:
        for item in mine.items.all():
            departure = item.allocation.departure
            lines.append(
                ShareLine(
                    direction=item.leg.direction,
                    train=departure.service_number,
                    departs_at=departure.departs_at,
                    origin=departure.origin.name,
                    destination=departure.destination.name,
                    seat=item.allocation.seat.label,
                    fare=item.fare_class.name,
                    passenger=item.passenger_type.name,
                    card=item.discount_card.name if item.discount_card else "",
                    amount_cents=item.amount_cents,
                    origin_time_zone=departure.origin.time_zone,
                )
            )
    coverable = [
        CoverableShare(
            share_id=share.pk,
            name=name_of(share),
            amount_cents=share.amount_cents
            if share.traveller_id in shown or share.pk in cover_ids
            else None,
            currency=share.currency,
            chosen=share.pk in cover_ids,
        )
        for share in shares
        if share.traveller_id != viewer_id
        and share.state == Share.State.UNPAID
        and share.payment_id is None
    ]
    refunds_to_me = []
    if ticketed is not None and viewer_id is not None:
        refunds = Refund.objects.filter(
            payment__checkout=checkout, payment__payer_id=viewer_id, ticket__isnull=False
        ).select_related("ticket")
        by_traveller = {s.traveller_id: s for s in shares}
        refunds_to_me = [
            PayerRefund(
                name=name_of(by_traveller[r.ticket.traveller_id])
                if r.ticket.traveller_id in by_traveller
                else "?",
                amount_cents=r.amount_cents,
                currency=r.currency,
                state=r.state,
            )
            for r in refunds.order_by("pk")
        ]
    my_card = None
    payment = mine.payment if mine is not None else None
    if (
        payment is not None
        and viewer_id is not None
        and payment.payer_id == viewer_id
        and payment.card_last4
        and mine.state in (Share.State.AUTHORISED, Share.State.CAPTURED)
    ):
        my_card = CardUsed(brand=payment.card_brand, last4=payment.card_last4)
    return CheckoutPage(
        checkout=checkout,
        travellers=travellers,
        mine=mine,
        my_lines=lines,
        coverable=coverable,
        refunds_to_me=refunds_to_me,
        my_card=my_card,
        paid_for=paid_for,
        covered_me_by=covered_by(mine) if mine is not None else "",
    )


def payment_of_payer(*, checkout: Checkout, payer, payment_id) -> Payment:
    """One of ``payer``'s payments for ``checkout`` (their pay page asks about it), else
    ``CheckoutNotFound``: nobody reads another payer's payment."""
    try:
        payment_id = int(payment_id)
    except (TypeError, ValueError):
        raise CheckoutNotFound() from None
    payment = Payment.objects.filter(pk=payment_id, checkout=checkout, payer=payer).first()
    if payment is None:
        raise CheckoutNotFound()
    return payment


def traveller_tickets(*, checkout: Checkout, traveller) -> list:
    """``traveller``'s own tickets of the checkout's booking (none before it is confirmed),
    outbound first."""
    from booking.models import Ticket

    if checkout.state != Checkout.State.CONFIRMED:
        return []
    return list(
        Ticket.objects.filter(booking__trip_id=checkout.trip_id, traveller=traveller)
        .select_related(
            "leg",
            "fare_class",
            "passenger_type",
            "discount_card",
            "allocation__seat__coach",
            "allocation__departure__origin",
            "allocation__departure__destination",
        )
        .order_by("leg__direction")
    )


# --- Who travels: one answer for every page (docs/payments.md, "Who travels") ----------------

# What a member's trip is to them. The trip page, the pay page and "My trips" all ask here,
# so none of them says "booked" to someone without a ticket.
PLANNING = "planning"  # the group is still planning (no checkout under way)
PAYING = "paying"  # a checkout is under way and the member has a share in it
BOOKED = "booked"  # the member holds at least one valid ticket of the trip
NOT_TRAVELLING = "not_travelling"  # past planning, with neither a live share nor a ticket


def travel_standings(*, user, trip_ids) -> dict[int, str]:
    """For each of ``trip_ids``, where ``user`` stands (``PLANNING``, ``PAYING``,
    ``BOOKED`` or ``NOT_TRAVELLING``), read from the trip, its checkout's shares and the
    tickets: only a valid ticket is "booked". A member dropped at a deadline (share
    released), one who joined once checkout had started, or whose tickets are all
    cancelled does not travel. Three queries, whatever the number of trips."""
    from booking.models import Ticket, Trip

    trip_ids = list(trip_ids)
    user_id = getattr(user, "pk", None)
    if not trip_ids or user_id is None:
        return dict.fromkeys(trip_ids, PLANNING)
    statuses = dict(Trip.objects.filter(pk__in=trip_ids).values_list("pk", "status"))
    booked = set(
        Ticket.objects.filter(
            booking__trip_id__in=trip_ids, traveller_id=user_id, state=Ticket.State.VALID
        ).values_list("booking__trip_id", flat=True)
    )
    paying = set(
        Share.objects.filter(
            checkout__trip_id__in=trip_ids,
            checkout__state__in=[
                Checkout.State.OPEN,
                Checkout.State.GRACE,
                Checkout.State.CONFIRMING,
            ],
            traveller_id=user_id,
        )
        .exclude(state__in=[Share.State.RELEASED, Share.State.REFUNDED])
        .values_list("checkout__trip_id", flat=True)
    )
    standings = {}
    for trip_id in trip_ids:
        if trip_id in booked:
            standings[trip_id] = BOOKED
        elif trip_id in paying:
            standings[trip_id] = PAYING
        elif statuses.get(trip_id, Trip.Status.PLANNING) == Trip.Status.PLANNING:
            standings[trip_id] = PLANNING
        else:
            standings[trip_id] = NOT_TRAVELLING
    return standings


def travel_standing(*, user, trip_id: int) -> str:
    """``travel_standings`` for one trip."""
    return travel_standings(user=user, trip_ids=[trip_id])[trip_id]


# --- Cancelling a ticket (frontend/views_pay.py, payments/api.py) ------------------------------


@dataclass(frozen=True)
class TicketCancelQuote:
    """What cancelling a ticket gives back, as ``services.ticket_cancel`` will do it (or,
    once cancelled, did): the fare's refund (Flex: the price less the fee; Standard:
    nothing) to the card of the payment that covered the traveller's share."""

    ticket: object  # booking.Ticket, with its leg, fare, seat and departure
    cancellable: bool  # still valid and its train has not left
    refundable: bool  # the fare gives money back
    price_cents: int
    fee_cents: int  # what the fare keeps (Flex: its fee; Standard: 0, nothing is refunded)
    refund_cents: int  # what goes back (done: what went back)
    currency: str
    refund_to_payer: bool  # a friend covered the share: their card gets the refund
    payer_name: str  # that friend's name ("" when it is the traveller's own card)
    refund: Refund | None  # once cancelled: the refund (None when nothing was refunded)


def ticket_cancel_quote(*, ticket_id: int, viewer, now=None) -> TicketCancelQuote:
    """The quote for ``viewer``'s own ticket; anyone else's (or none): ``TicketNotFound``,
    as ``ticket_cancel`` answers. Reads only; a fixed number of queries."""
    from django.utils import timezone

    from booking.errors import TicketNotFound
    from booking.models import Ticket
    from groups.models import Profile
    from payments.refund_rules import ticket_refund_due

    viewer_id = getattr(viewer, "pk", None) if getattr(viewer, "is_authenticated", False) else None
    ticket = (
        Ticket.objects.select_related(
            "booking",
            "leg",
            "fare_class",
            "allocation__seat__coach",
            "allocation__departure__origin",
            "allocation__departure__destination",
        )
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None or viewer_id is None or ticket.traveller_id != viewer_id:
        raise TicketNotFound()
    now = now or timezone.now()
    share = (
        Share.objects.filter(
            checkout__trip_id=ticket.booking.trip_id,
            checkout__state=Checkout.State.CONFIRMED,
            traveller_id=ticket.traveller_id,
        )
        .select_related("payment")
        .first()
    )
    payment = share.payment if share is not None else None
    refund = Refund.objects.filter(ticket=ticket).order_by("pk").first()
    fare = ticket.fare_class
    if ticket.state == Ticket.State.CANCELLED:
        refund_cents = ticket.refunded_cents
    else:
        refund_cents = ticket_refund_due(ticket, share)  # the rule ticket_cancel applies
    fee_cents = min(fare.refund_fee_cents, ticket.price_cents) if fare.refundable else 0
    refund_to_payer = payment is not None and payment.payer_id != ticket.traveller_id
    payer_name = ""
    if refund_to_payer:
        payer_name = (
            Profile.objects.filter(user_id=payment.payer_id)
            .values_list("display_name", flat=True)
            .first()
            or "?"
        )
    return TicketCancelQuote(
        ticket=ticket,
        cancellable=ticket.state == Ticket.State.VALID
        and ticket.allocation.departure.departs_at > now,
        refundable=fare.refundable,
        price_cents=ticket.price_cents,
        fee_cents=fee_cents,
        refund_cents=refund_cents,
        currency=ticket.currency,
        refund_to_payer=refund_to_payer,
        payer_name=payer_name,
        refund=refund,
    )


@dataclass(frozen=True)
class LeaveOutcome:
    """What happens to one person's seat, share and ticket on one trip of the group if
    they leave it or are removed, as the code does it today (``leave_outcomes``)."""

    trip: object  # booking.Trip
    standing: str  # travel_standings' answer, before leaving
    held_seats: list[str]  # seats held for them while planning: released on leaving
    share_status: str  # "" (no share, or released / refunded), unpaid, paying, paid
    tickets: int  # valid tickets they hold: they stay valid and theirs


def leave_outcomes(*, user_id: int, group_id: int) -> list[LeaveOutcome]:
    """The one place the leave and remove pages read "what happens if they go" from, trip
    by trip of the group (cancelled trips left out): while planning, their held seats are
    released (``booking.receivers``). Leaving during a checkout, or with a valid ticket
    for a train still to come, is refused (``groups.services.membership_end_check`` says
    so first: ``payments.receivers``, ``booking.receivers``), so the share and ticket lines
    describe what is left after a checkout ended or a train left."""
    from booking.models import AllocationState, SeatAllocation, Ticket, Trip

    trips = list(
        Trip.objects.filter(group_id=group_id)
        .exclude(status=Trip.Status.CANCELLED)
        .order_by("outbound_from", "pk")
    )
    ids = [t.pk for t in trips]
    standings = travel_standings(user=get_user_model()(pk=user_id), trip_ids=ids)
    held: dict[int, list[str]] = {}
    for allocation in SeatAllocation.objects.filter(
        leg__trip_id__in=ids, user_id=user_id, state=AllocationState.HELD
    ).select_related("seat__coach", "leg"):
        held.setdefault(allocation.leg.trip_id, []).append(allocation.seat.label)
    shares = {
        share.checkout.trip_id: _share_status(share)
        for share in Share.objects.filter(checkout__trip_id__in=ids, traveller_id=user_id)
        .exclude(checkout__state=Checkout.State.CANCELLED)
        .exclude(state__in=[Share.State.RELEASED, Share.State.REFUNDED])  # nothing left
        .select_related("checkout")
    }
    tickets: dict[int, int] = {}
    for trip_id in Ticket.objects.filter(
        booking__trip_id__in=ids, traveller_id=user_id, state=Ticket.State.VALID
    ).values_list("booking__trip_id", flat=True):
        tickets[trip_id] = tickets.get(trip_id, 0) + 1
    return [
        LeaveOutcome(
            trip=trip,
            standing=standings[trip.pk],
            held_seats=held.get(trip.pk, []) if trip.status == Trip.Status.PLANNING else [],
            share_status=shares.get(trip.pk, ""),
            tickets=tickets.get(trip.pk, 0),
        )
        for trip in trips
    ]


def account_delete_quotes(*, user) -> list[TicketCancelQuote]:
    """What deleting ``user``'s account does to their tickets, ticket by ticket: each
    valid ticket whose train has not left, with the refund its fare gives and to whom
    (``services.tickets_cancel_of_leaving_account`` does exactly that)."""
    from booking.selectors import tickets_still_to_use

    return [
        ticket_cancel_quote(ticket_id=ticket.pk, viewer=user)
        for ticket in tickets_still_to_use(user_id=user.pk)
    ]


# --- Staff (payments/admin.py) -----------------------------------------------------------------


def checkout_stripe_events(*, checkout_id: int):
    """The webhook events about a checkout's PaymentIntents, oldest first: a PaymentIntent
    event names it as its object's ``id``, a charge or dispute event as its object's
    ``payment_intent`` (``StripeEvent.payload`` keeps Stripe's object as it came)."""
    from django.db.models import Q

    from payments.models import StripeEvent

    intents = list(
        Payment.objects.filter(checkout_id=checkout_id, stripe_payment_intent_id__isnull=False)
        .values_list("stripe_payment_intent_id", flat=True)
        .order_by("pk")
    )
    if not intents:
        return StripeEvent.objects.none()
    return StripeEvent.objects.filter(
        Q(payload__object__id__in=intents) | Q(payload__object__payment_intent__in=intents)
    ).order_by("received_at", "pk")


@dataclass(frozen=True)
class DelayCompensationView:
    """The viewer's delay compensation for one late train, on the trip page's banner:
    what was made (``state``: paid to the card, credited, below the threshold, nothing),
    or, before that, how they want it (``form``) and whether they may still say so."""

    form: str
    may_choose: bool
    state: str
    amount_cents: int
    currency: str


def delay_compensations_view(
    *, user, trip_id: int, disruptions
) -> dict[int, DelayCompensationView]:
    """Per delay among ``disruptions`` on which the viewer has a ticket of this trip. Three
    queries whatever their number."""
    from booking.models import Disruption, Ticket
    from payments.models import Compensation, CompensationPreference

    late = {d.pk: d for d in disruptions if d.kind == Disruption.Kind.DELAY}
    if not late or user is None or not user.is_authenticated:
        return {}
    tickets = {
        t.allocation.departure_id: t
        for t in Ticket.objects.filter(
            booking__trip_id=trip_id,
            traveller_id=user.pk,
            allocation__departure_id__in=[d.departure_id for d in late.values()],
        ).select_related("allocation")
    }
    made = {
        c.ticket_id: c
        for c in Compensation.objects.filter(ticket__in=[t.pk for t in tickets.values()])
    }
    forms = dict(
        CompensationPreference.objects.filter(
            traveller_id=user.pk, disruption_id__in=late
        ).values_list("disruption_id", "form")
    )
    out = {}
    for pk, disruption in late.items():
        ticket = tickets.get(disruption.departure_id)
        if ticket is None:
            continue
        compensation = made.get(ticket.pk)
        out[pk] = DelayCompensationView(
            form=forms.get(pk, CompensationPreference.Form.CARD),
            may_choose=compensation is None and ticket.state == Ticket.State.VALID,
            state=compensation.state if compensation else "",
            amount_cents=compensation.amount_cents if compensation else 0,
            currency=ticket.currency,
        )
    return out


def ticket_compensations(*, ticket_ids) -> dict:
    """Per ticket, its delay compensation when one was paid or credited (shown on the
    ticket). One query."""
    from payments.models import Compensation

    shown = (Compensation.State.PAID, Compensation.State.CREDITED)
    return {
        c.ticket_id: c
        for c in Compensation.objects.filter(ticket_id__in=list(ticket_ids), state__in=shown)
    }
