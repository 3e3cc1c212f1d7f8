"""Reads of split payments: a payer's pay link, a checkout's shares."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core import signing

from groups.models import Membership
from payments.errors import PayLinkInvalid
from payments.models import Checkout, Share
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
