"""What referrals hears from the apps below it and from allauth: sign-ups, logins and
logouts (the browser a person uses), trips created, bookings confirmed and tickets
refunded. Connected in ``ReferralsConfig.ready``.

``booking`` sends its signals after commit, from inside the payer's request or the
worker: a failure here is logged and never reaches them (attribution is bookkeeping; the
booking stands either way).
"""

import logging

from referrals import attribution, services

log = logging.getLogger(__name__)


def _safely(what: str, work, **kwargs):
    try:
        return work(**kwargs)
    except Exception:
        log.exception("Referral attribution failed on %s.", what)
        return None


def on_user_signed_up(sender, request=None, user=None, **kwargs):
    _safely("sign-up", attribution.signup_attribute, request=request, user=user)


def on_user_logged_in(sender, request=None, user=None, **kwargs):
    _safely("login", attribution.visitor_link, request=request, user=user)


def on_user_logged_out(sender, request=None, user=None, **kwargs):
    _safely("logout", attribution.visitor_unlink, request=request, user=user)


def on_trip_created(sender, trip_id=None, user_id=None, **kwargs):
    _safely("trip created", attribution.trip_created_attribute, trip_id=trip_id, user_id=user_id)


def on_booking_confirmed(
    sender, booking_id=None, trip_id=None, traveller_ids=(), currency="", **kwargs
):
    # The travellers' own referral credit reserved at checkout is now spent.
    if trip_id is not None:
        _safely("credit spent", services.reward_uses_spend, trip_id=trip_id)
    _safely(
        "booking",
        attribution.booking_attribute,
        booking_id=booking_id,
        traveller_ids=traveller_ids,
        currency=currency,
    )


def on_ticket_refunded(sender, booking_id=None, traveller_id=None, **kwargs):
    _safely("refund", attribution.refund_reverse, booking_id=booking_id, traveller_id=traveller_id)


def connect() -> None:
    from allauth.account import signals as account_signals
    from django.contrib.auth import signals as auth_signals

    from booking import signals as booking_signals

    uid = "referrals.receivers"
    account_signals.user_signed_up.connect(on_user_signed_up, dispatch_uid=f"{uid}.signup")
    # Django's own login signal: every door (allauth's code and Facebook logins included).
    auth_signals.user_logged_in.connect(on_user_logged_in, dispatch_uid=f"{uid}.login")
    auth_signals.user_logged_out.connect(on_user_logged_out, dispatch_uid=f"{uid}.logout")
    booking_signals.trip_created.connect(on_trip_created, dispatch_uid=f"{uid}.trip")
    booking_signals.booking_confirmed.connect(on_booking_confirmed, dispatch_uid=f"{uid}.booking")
    booking_signals.ticket_refunded.connect(on_ticket_refunded, dispatch_uid=f"{uid}.refund")
