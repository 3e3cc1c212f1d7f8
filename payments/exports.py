"""payments' section of "Download my data" (``groups.exports``): the person's shares (what
each was for), the payments they made (for their share and for friends'), the refunds to
their card, the checkouts they started. Registered in ``PaymentsConfig.ready()``; account
deletion keeps it all (anonymised: the user row becomes "Former traveller") for
accounting, and says so on the delete page."""

from django.utils.translation import gettext_lazy as _

from core.jsonable import iso_or_none as _when
from payments.models import (
    Checkout,
    Compensation,
    CompensationPreference,
    Payment,
    Refund,
    Share,
)

PAYMENT_MODELS = (
    "payments.Share",
    "payments.Payment",
    "payments.Checkout",
    "payments.CompensationPreference",
)
PAYMENT_KEPT = _(
    "Your shares, payments and refunds are kept, under “Former traveller”, as the law "
    "requires for accounting; your card details were never stored here (Stripe holds them)."
)


def payments_export(user) -> dict:
    shares = (
        Share.objects.filter(traveller=user)
        .select_related("checkout__trip", "payment")
        .prefetch_related("items__leg", "items__fare_class", "items__passenger_type")
        .order_by("pk")
    )
    payments = (
        Payment.objects.filter(payer=user)
        .select_related("checkout__trip")
        .prefetch_related("shares")
        .order_by("pk")
    )
    refunds = Refund.objects.filter(payment__payer=user).order_by("pk")
    return {
        "shares": [
            {
                "trip": s.checkout.trip.title,
                "amount_cents": s.amount_cents,
                "credit_cents": s.credit_cents,
                "currency": s.currency,
                "state": s.state,
                "paid_by_you": s.payment is not None and s.payment.payer_id == user.pk,
                "items": [
                    {
                        "leg": item.leg.direction,
                        "fare_class": item.fare_class.code,
                        "passenger_type": item.passenger_type.code,
                        "amount_cents": item.amount_cents,
                    }
                    for item in s.items.all()
                ],
            }
            for s in shares
        ],
        # Whom a payment also covered is counted, not named: that is the friends' data.
        "payments": [
            {
                "trip": p.checkout.trip.title,
                "amount_cents": p.amount_cents,
                "currency": p.currency,
                "state": p.state,
                "stripe_payment_intent": p.stripe_payment_intent_id or None,
                "shares_of_others": sum(1 for s in p.shares.all() if s.traveller_id != user.pk),
                "created_at": _when(p.created_at),
                "authorised_at": _when(p.authorised_at),
                "captured_at": _when(p.captured_at),
            }
            for p in payments
        ],
        "refunds": [
            {
                "amount_cents": r.amount_cents,
                "currency": r.currency,
                "state": r.state,
                "created_at": _when(r.created_at),
            }
            for r in refunds
        ],
        # Late trains: the compensation of each of the person's tickets (to the card or
        # as credit for a next trip), and how they asked for it.
        "delay_compensations": [
            {
                "ticket": code,
                "percent": percent,
                "amount_cents": amount,
                "currency": currency,
                "state": state,
                "created_at": _when(at),
            }
            for code, percent, amount, currency, state, at in Compensation.objects.filter(
                ticket__traveller=user
            )
            .order_by("pk")
            .values_list(
                "ticket__code", "percent", "amount_cents", "currency", "state", "created_at"
            )
        ],
        "compensation_preferences": [
            {"disruption_id": disruption_id, "form": form, "updated_at": _when(at)}
            for disruption_id, form, at in CompensationPreference.objects.filter(traveller=user)
            .order_by("pk")
            .values_list("disruption_id", "form", "updated_at")
        ],
        "checkouts_started": [
            {"trip_id": trip_id, "state": state, "created_at": _when(at)}
            for trip_id, state, at in Checkout.objects.filter(started_by=user)
            .order_by("pk")
            .values_list("trip_id", "state", "created_at")
        ],
    }
