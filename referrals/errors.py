"""The referral app's domain errors (mapped to HTTP in one place: ``core.api_errors``)."""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError, InvalidInput, NotFound


class ShareLinkNotFound(NotFound):
    """An unknown or malformed code: the same answer for both."""

    code = "share_link_not_found"
    default_message = _("This link does not exist.")


class NotATraveller(DomainError):
    code = "not_a_traveller"
    status = 403
    default_message = _("Only the trip's travellers can share it.")


class TripNotShareable(Conflict):
    code = "trip_not_shareable"
    default_message = _("A cancelled trip cannot be shared.")
    not_booked_message = _("You can share your trip once it is booked.")


class UnknownChannel(InvalidInput):
    code = "unknown_channel"
    default_message = _(
        "Choose how you want to share: Facebook, X, WhatsApp, Messenger, your share menu "
        "or a copied link."
    )


class UnknownConsentDecision(InvalidInput):
    code = "unknown_consent_decision"
    default_message = _("Choose to accept or to refuse.")
