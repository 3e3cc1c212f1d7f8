"""The e-mails of ``payments`` (registered with the outbox in ``payments.apps``): checkout
started, payment received, checkout cancelled, a traveller dropped at the deadline. Each
renders for one recipient only: their own share and payment, never another traveller's
price or card.

Checkout started and a friend paid are also pushed (``*_push``) to those who turned
notifications on and are not on the trip's page: my share, or who paid and how many have
(never what they paid)."""

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.l10n import format_moment
from core.site import site_url
from groups.selectors import user_display_name
from notices.emails import email_render
from notices.kinds import Push
from notices.templatetags.emails import cents
from payments import deadlines, services
from payments.models import Checkout, Payment, Share


def _when(moment) -> str:
    return format_moment(timezone.localtime(moment), year=True)


def _trip_url(checkout: Checkout) -> str:
    return site_url() + reverse("trip", args=[checkout.trip_id])


def _my_share(message) -> Share | None:
    """The recipient's own share of the checkout the message is about."""
    return (
        Share.objects.filter(checkout_id=message.object_id, traveller_id=message.recipient_id)
        .select_related("checkout__trip", "traveller__profile")
        .first()
    )


def checkout_started(message):
    share = _my_share(message)
    if share is None or share.checkout.state != Checkout.State.OPEN:
        return None  # cancelled or settled before the e-mail went: nothing to ask for
    checkout = share.checkout
    token = services.pay_link_token(checkout=checkout, payer=share.traveller)
    return email_render(
        "payments/email/checkout_started",
        {
            "name": user_display_name(user=share.traveller),
            "trip_title": checkout.trip.title,
            "share": share,
            "deadline": _when(checkout.deadline_at),
            "policy": checkout.policy,
            "pay_url": deadlines.pay_link_url(token),
            "trip_url": _trip_url(checkout),
        },
    )


def payment_received(message):
    payment = (
        Payment.objects.filter(pk=message.object_id, payer_id=message.recipient_id)
        .select_related("checkout__trip", "payer__profile")
        .first()
    )
    if payment is None:
        return None
    return email_render(
        "payments/email/payment_received",
        {
            "name": user_display_name(user=payment.payer),
            "trip_title": payment.checkout.trip.title,
            "payment": payment,
            "trip_url": _trip_url(payment.checkout),
        },
    )


def checkout_cancelled(message):
    share = _my_share(message)
    if share is None:
        return None
    return email_render(
        "payments/email/checkout_cancelled",
        {
            "name": user_display_name(user=share.traveller),
            "trip_title": share.checkout.trip.title,
            "trip_url": _trip_url(share.checkout),
        },
    )


def traveller_dropped(message):
    share = _my_share(message)
    if share is None or share.state != Share.State.RELEASED:
        return None  # paid after all, or not theirs: nothing to tell
    return email_render(
        "payments/email/traveller_dropped",
        {
            "name": user_display_name(user=share.traveller),
            "trip_title": share.checkout.trip.title,
            "trip_url": _trip_url(share.checkout),
        },
    )


def checkout_started_push(message):
    share = _my_share(message)
    if share is None or share.checkout.state != Checkout.State.OPEN:
        return None
    if share.state != Share.State.UNPAID:
        return None  # paid already (someone paid for them): nothing to ask for
    checkout = share.checkout
    return Push(
        title=_("%(trip)s: time to pay") % {"trip": checkout.trip.title},
        body=_(
            "Your share: %(amount)s. Pay before %(deadline)s; nobody is charged until "
            "everyone has paid."
        )
        % {
            "amount": cents(share.amount_cents - share.credit_cents, share.currency),
            "deadline": _when(checkout.deadline_at),
        },
        url=_trip_url(checkout),
    )


def friend_paid_push(message):
    """To the other travellers of a checkout: who paid, and how many of the travellers
    have (no amount: that is the payer's own business)."""
    payment = (
        Payment.objects.filter(pk=message.object_id)
        .select_related("checkout__trip", "payer__profile")
        .first()
    )
    if payment is None or payment.checkout.state != Checkout.State.OPEN:
        return None  # cancelled, or settled: the booking's own message follows
    shares = list(Share.objects.filter(checkout=payment.checkout).values_list("state", flat=True))
    paid = sum(state in (Share.State.AUTHORISED, Share.State.CAPTURED) for state in shares)
    return Push(
        title=_("%(trip)s: %(name)s paid")
        % {"trip": payment.checkout.trip.title, "name": user_display_name(user=payment.payer)},
        body=ngettext(
            "%(paid)s of %(count)s travellers has paid.",
            "%(paid)s of %(count)s travellers have paid.",
            paid,
        )
        % {"paid": paid, "count": len(shares)},
        url=_trip_url(payment.checkout),
    )


def delay_compensation(message):
    """The recipient's delay compensation for one late train (``payments.disruptions``):
    their own tickets' amounts only, to their card or as credit for a next trip."""
    from payments.models import Compensation

    mine = list(
        Compensation.objects.filter(
            disruption_id=message.object_id,
            ticket__traveller_id=message.recipient_id,
            state__in=[Compensation.State.PAID, Compensation.State.CREDITED],
        ).select_related(
            "ticket__booking__trip",
            "ticket__traveller",
            "disruption__departure",
        )
    )
    if not mine:
        return None
    ticket = mine[0].ticket
    return email_render(
        "payments/email/delay_compensation",
        {
            "name": user_display_name(user=ticket.traveller),
            "trip_title": ticket.booking.trip.title,
            "train": mine[0].disruption.departure.service_number,
            "delay_minutes": mine[0].delay_minutes,
            "percent": mine[0].percent,
            "amount_cents": sum(c.amount_cents for c in mine),
            # Art. 19(4): the traveller asked for credit on a next trip instead of the card.
            "as_credit": mine[0].state == Compensation.State.CREDITED,
            "currency": ticket.currency,
            "trip_url": site_url() + reverse("trip", args=[ticket.booking.trip_id]),
        },
    )
