"""The e-mails of ``payments`` (registered with the outbox in ``payments.apps``): checkout
started, payment received, checkout cancelled, a traveller dropped at the deadline. Each
renders for one recipient only: their own share and payment, never another traveller's
price or card."""

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone

from groups.selectors import user_display_name
from notices.emails import email_render
from payments import deadlines, services
from payments.models import Checkout, Payment, Share


def _when(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _trip_url(checkout: Checkout) -> str:
    return settings.SIDEBYSIDE["SITE_URL"].rstrip("/") + reverse("trip", args=[checkout.trip_id])


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
