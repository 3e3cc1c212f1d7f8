"""What payments says and does when a friend group changes (``groups.signals``)."""

from django.contrib.auth import get_user_model

from booking.models import Trip
from core.locking import rows_lock
from payments.errors import TravellersFixed
from payments.models import Checkout, Share

UNDER_WAY = (Checkout.State.OPEN, Checkout.State.GRACE, Checkout.State.CONFIRMING)


def on_membership_ending(sender, *, group_id: int, user_id: int, kind: str, **kwargs) -> None:
    """``membership_ending``: while a checkout of the group's trips is under way, its
    travellers are fixed (``TravellersFixed``), whether they paid yet or not: leaving
    would have them charged for, or left out of, a booking made for them. The trips are
    locked (after the group, core/locking.py) so that a checkout starting now either
    sees the person gone or is seen here."""
    rows_lock(Trip.objects.filter(group_id=group_id))
    if (
        Share.objects.filter(
            checkout__trip__group_id=group_id,
            checkout__state__in=UNDER_WAY,
            traveller_id=user_id,
        )
        .exclude(state=Share.State.RELEASED)
        .exists()
    ):
        raise TravellersFixed()


def on_user_anonymising(sender, *, user_id: int, **kwargs) -> None:
    """An account is being deleted (inside its transaction: a failure here deletes
    nothing): its future tickets are cancelled and refunded to whoever paid."""
    from payments.services import tickets_cancel_of_leaving_account

    user = get_user_model().objects.get(pk=user_id)
    tickets_cancel_of_leaving_account(user=user)
