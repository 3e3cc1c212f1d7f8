"""Attribution: which share brought a sign-up, a trip or a booking.

The rule (issue 6 §4): the **last** share link the person clicked within
``REFERRALS["ATTRIBUTION_DAYS"]`` (30) before the event, from one of their browsers
(``Visitor``), gets the credit. Never credited:

- a click on one's **own** link (no self-referral);
- a click on a link of a trip one is or was a **member** of (any membership row: the
  travellers of the shared trip are the sharer's own group, not people the share brought);
- previews (link crawlers) and clicks past the flood limit (``flagged``).

An excluded click is skipped, so an earlier friend's click in the window may still win.

Sign-ups carry the request, so the browser is known there. Trips and bookings are
announced by ``booking`` after commit without a request: each sign-up and login records
the browser it came from (``VisitorUser``), and later events look at the clicks of the
person's browsers. Without consent a browser is remembered for that session only: its
``VisitorUser`` row expires with the session (and at logout).

Revenue: a booking gives one ``Conversion`` per attributed traveller, worth what that
traveller's share brought in money: their tickets (``booking.Ticket.price_cents``) less
the referral credit applied to their share (``payments.Share.credit_cents``: the credit
is a cost, not revenue); a refund adds the tickets' ``refunded_cents`` to
``reversed_cents`` (never more than the amount).

Incentives: with ``REFERRALS["INCENTIVE"]`` on, a new booking conversion earns the sharer
a reward (``services.reward_earn``, once per friend), and a refund that leaves the friend
without a valid ticket reverses it (``services.reward_reverse``).
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from booking.models import Booking, Ticket, Trip
from groups.models import Membership
from payments.models import Checkout, Share
from referrals import services
from referrals.models import Click, Consent, Conversion, ConversionKind, Visitor, VisitorUser

log = logging.getLogger(__name__)


def _window() -> dt.timedelta:
    return dt.timedelta(days=settings.REFERRALS["ATTRIBUTION_DAYS"])


def last_click(*, visitor_ids, user_id: int | None, at: dt.datetime) -> Click | None:
    """The last counted click by one of ``visitor_ids`` in the window before ``at`` that
    ``user_id`` may be credited to (not their own link, not a trip they belong to)."""
    visitor_ids = list(visitor_ids)
    if not visitor_ids:
        return None
    clicks = Click.objects.filter(
        visitor_id__in=visitor_ids,
        is_preview=False,
        flagged=False,
        at__gte=at - _window(),
        at__lte=at,
    )
    if user_id is not None:
        member = Membership.objects.filter(
            group_id=OuterRef("link__trip__group_id"), user_id=user_id
        )
        clicks = clicks.exclude(link__sharer_id=user_id).exclude(Exists(member))
    return clicks.select_related("link__trip").order_by("-at", "-pk").first()


def _visitor_ids_of(user_id: int, *, at: dt.datetime) -> list[int]:
    """The browsers the person signed up or logged in from that still count at ``at``:
    with consent always, without it until their session ended."""
    return list(
        VisitorUser.objects.filter(user_id=user_id)
        .filter(Q(visitor__consent=Consent.GRANTED) | Q(expires_at__gt=at))
        .values_list("visitor_id", flat=True)
    )


def _record(*, click: Click, kind: str, at: dt.datetime, **fields) -> Conversion | None:
    """One conversion row; a repeated signal finds the unique constraint and adds nothing."""
    try:
        with transaction.atomic():
            return Conversion.objects.create(
                kind=kind,
                link=click.link,
                channel=click.link.channel,
                destination_id=click.link.trip.destination_id,
                click=click,
                visitor_id=click.visitor_id,
                at=at,
                **fields,
            )
    except IntegrityError:
        return None


# --- Browsers of an account ------------------------------------------------------------------


def _session_end(request) -> dt.datetime:
    session = getattr(request, "session", None)
    if session is not None:
        return session.get_expiry_date()
    return timezone.now()


def visitor_link(*, request, user, visitor: Visitor | None = None) -> Visitor | None:
    """Remember that ``user`` came from this browser (at sign-up, at login, or at a click
    made while logged in). Nothing for a browser that never opened a share link."""
    if request is None or user is None or user.pk is None:
        return None
    visitor = visitor or services.visitor_of(request)
    if visitor is None:
        return None
    now = timezone.now()
    VisitorUser.objects.update_or_create(
        visitor=visitor,
        user=user,
        defaults={"linked_at": now, "expires_at": max(_session_end(request), now)},
    )
    return visitor


def visitor_unlink(*, request, user) -> None:
    """At logout the session ends: a browser without consent stops counting for the
    person now (with consent, ``VisitorUser.expires_at`` does not matter)."""
    if request is None or user is None or user.pk is None:
        return
    visitor = services.visitor_of(request)
    if visitor is None:
        return
    now = timezone.now()
    VisitorUser.objects.filter(visitor=visitor, user=user, expires_at__gt=now).update(
        expires_at=now
    )


# --- Conversions -----------------------------------------------------------------------------


def signup_attribute(*, request, user) -> Conversion | None:
    """A sign-up, credited to the last share this browser clicked in the window."""
    visitor = visitor_link(request=request, user=user)
    if visitor is None:
        return None
    now = timezone.now()
    click = last_click(visitor_ids=[visitor.pk], user_id=user.pk, at=now)
    if click is None:
        return None
    return _record(click=click, kind=ConversionKind.SIGNUP, at=now, user=user)


def trip_created_attribute(*, trip_id: int, user_id: int) -> Conversion | None:
    """A trip created by ``user_id``, credited to the last share one of their browsers
    clicked in the window before the trip was made."""
    trip = Trip.objects.filter(pk=trip_id).only("pk", "created_at").first()
    if trip is None:
        return None
    at = trip.created_at
    click = last_click(visitor_ids=_visitor_ids_of(user_id, at=at), user_id=user_id, at=at)
    if click is None:
        return None
    return _record(click=click, kind=ConversionKind.TRIP_CREATED, at=at, user_id=user_id, trip=trip)


def booking_attribute(*, booking_id: int, traveller_ids, currency: str) -> list[Conversion]:
    """A confirmed booking: for each traveller who came through a share, one conversion
    worth their own tickets less the credit applied to their share, credited to the last
    eligible click before the booking; with the incentive on, the sharer's reward."""
    booking = Booking.objects.filter(pk=booking_id).only("pk", "trip_id", "confirmed_at").first()
    if booking is None:
        return []
    at = booking.confirmed_at
    amounts = dict(
        Ticket.objects.filter(booking_id=booking_id)
        .values("traveller_id")
        .annotate(total=Sum("price_cents"))
        .values_list("traveller_id", "total")
    )
    credited = dict(
        Share.objects.filter(
            checkout__trip_id=booking.trip_id,
            checkout__state=Checkout.State.CONFIRMED,
            credit_cents__gt=0,
        ).values_list("traveller_id", "credit_cents")
    )
    made = []
    for traveller_id in sorted(set(traveller_ids)):
        click = last_click(
            visitor_ids=_visitor_ids_of(traveller_id, at=at), user_id=traveller_id, at=at
        )
        if click is None:
            continue
        conversion = _record(
            click=click,
            kind=ConversionKind.BOOKING,
            at=at,
            user_id=traveller_id,
            trip_id=booking.trip_id,
            booking=booking,
            amount_cents=max(0, amounts.get(traveller_id, 0) - credited.get(traveller_id, 0)),
            currency=currency,
        )
        if conversion is not None:
            made.append(conversion)
            services.reward_earn(conversion=conversion)
    return made


def refund_reverse(*, booking_id: int, traveller_id: int) -> Conversion | None:
    """A refund on a traveller's ticket: their booking conversion's ``reversed_cents``
    becomes what their tickets of that booking have had refunded, capped at the amount.
    Read from the tickets (not added from the signal), so a repeated or late signal
    changes nothing, and it only ever grows. Then the sharer's reward for this traveller,
    if they no longer travel (``services.reward_reverse``)."""
    conversion = _refund_reverse_revenue(booking_id=booking_id, traveller_id=traveller_id)
    if conversion is not None:
        services.reward_reverse(booking_id=booking_id, friend_id=traveller_id)
    return conversion


@transaction.atomic
def _refund_reverse_revenue(*, booking_id: int, traveller_id: int) -> Conversion | None:
    conversion = (
        Conversion.objects.select_for_update()
        .filter(kind=ConversionKind.BOOKING, booking_id=booking_id, user_id=traveller_id)
        .first()
    )
    if conversion is None:
        return None
    refunded = (
        Ticket.objects.filter(booking_id=booking_id, traveller_id=traveller_id).aggregate(
            total=Sum("refunded_cents")
        )["total"]
        or 0
    )
    reversed_cents = min(conversion.amount_cents, max(conversion.reversed_cents, refunded))
    if reversed_cents != conversion.reversed_cents:
        conversion.reversed_cents = reversed_cents
        conversion.save(update_fields=["reversed_cents"])
    return conversion
