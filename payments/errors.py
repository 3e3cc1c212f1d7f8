"""Errors of payments, as domain errors (``core.errors``).

Nothing raised by the ``stripe`` library leaves ``payments.stripe_gateway``: it turns each
failure into one of these, so a view or the worker handles "Stripe did not work" like any
other domain error. Stripe's own details (its code, decline code, message, request id) are
kept on the exception for logs; what a person sees is our own translated message.
"""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class StripeError(DomainError):
    """Stripe answered with an error we did not expect (a bad request, a refused key, an
    object in the wrong state…), or with something we could not read. The base of every
    Stripe failure: catch the subclasses first when the answer differs."""

    code = "stripe_error"
    status = 502
    default_message = _("The payment service answered with an error. Please try again later.")

    def __init__(
        self,
        message=None,
        *,
        stripe_code: str = "",
        stripe_message: str = "",
        http_status: int | None = None,
        request_id: str = "",
        **kwargs,
    ):
        super().__init__(message, **kwargs)
        self.stripe_code = stripe_code or ""
        self.stripe_message = stripe_message or ""
        self.http_status = http_status
        self.request_id = request_id or ""


class StripeUnavailable(StripeError):
    """Stripe could not be reached in time, or answered 5xx: worth a retry (with the same
    idempotency key, so nothing happens twice)."""

    code = "stripe_unavailable"
    status = 503
    default_message = _(
        "The payment service cannot be reached right now. Nothing was charged; please try "
        "again in a moment."
    )


class CardDeclined(StripeError):
    """The card was refused (by the bank, or by a failed 3-D Secure check). The message is
    safe to show to the payer; they may try again, with this card or another."""

    code = "card_declined"
    status = 402
    default_message = _("Your card was declined. Please try another card.")

    def __init__(self, message=None, *, decline_code: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.decline_code = decline_code or ""


class IdempotencyConflict(StripeError):
    """An idempotency key was used again with other parameters: a bug in how our ids make
    keys (two different writes must never share one), never the payer's doing."""

    code = "idempotency_conflict"
    status = 409
    default_message = _("This payment request conflicts with an earlier one.")


class WebhookSignatureInvalid(DomainError):
    """A webhook that is not signed with our endpoint secret (forged, unsigned, too old,
    or not JSON): answered 400 and nothing changes."""

    code = "webhook_signature_invalid"
    status = 400
    default_message = _("The webhook signature is not valid.")


# --- Checkout and shares (payments.services) ------------------------------------------------


class CheckoutNotReady(DomainError):
    """The trip cannot go to checkout yet: a leg without its train, or travellers without
    a seat or a fare (listed in the message and in ``fields["travellers"]``)."""

    code = "checkout_not_ready"
    status = 409
    default_message = _("The trip is not ready for checkout yet.")


class CheckoutNotFound(DomainError):
    code = "checkout_not_found"
    status = 404
    default_message = _("This checkout does not exist.")


class CheckoutClosed(DomainError):
    """The checkout no longer takes payments (confirming, confirmed or cancelled)."""

    code = "checkout_closed"
    status = 409
    default_message = _("Payments for this trip are closed.")


class ShareUnavailable(DomainError):
    """A share that is already covered by someone's payment, paid, released, or not of
    this checkout."""

    code = "share_unavailable"
    status = 409
    default_message = _("Someone is already paying for this share, or it is not part of this trip.")


class PayLinkInvalid(DomainError):
    code = "pay_link_invalid"
    status = 404
    default_message = _("This payment link is not valid.")


class TravellersFixed(DomainError):
    """A checkout is under way: its travellers are the ones it started with until it ends,
    so nobody is charged for, or given a ticket to, a trip they have left."""

    code = "travellers_fixed"
    status = 409
    default_message = _(
        "Checkout has started: the travellers are fixed until it ends. If a share is not "
        "paid by the deadline, the organiser's rule for the deadline applies; the organiser "
        "can also cancel the checkout (nobody is charged)."
    )


class CompensationNotOpen(DomainError):
    """No ticket of the caller's on this late train, or the disruption is not a delay:
    nothing to choose (the same answer for both)."""

    code = "compensation_not_open"
    status = 404
    default_message = _("There is no delay compensation to choose for you on this train.")


class CompensationAlreadyMade(DomainError):
    """The compensation was made already (to the card or as credit): it is never paid
    twice, nor both ways."""

    code = "compensation_already_made"
    status = 409
    default_message = _("Your compensation for this train has already been made.")
