"""Errors of the Facebook identity, as domain errors (``core.errors``).

Nothing raised by facebook-sdk or requests leaves ``groups.facebook``: it turns them into
these, so a view maps them to an answer in one place like any other domain error. The
Graph API's own error details are kept on the exception for logs, never shown to people.
"""

from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError, NotFound


class FacebookError(DomainError):
    """Facebook answered, but with an error, or with something we could not read.

    The base of every Facebook failure: catch it for "Facebook did not work", or catch
    ``FacebookUnavailable`` (try again later) and ``FacebookTokenRefused`` (log in again)
    first when the answer differs.
    """

    code = "facebook_error"
    status = 502
    default_message = _("Facebook answered with an error. Please try again later.")

    def __init__(
        self,
        message=None,
        *,
        graph_code: int | None = None,
        graph_subcode: int | None = None,
        graph_type: str = "",
        graph_message: str = "",
        fbtrace_id: str = "",
        **kwargs,
    ):
        super().__init__(message, **kwargs)
        # Facebook's own error, for logs: code 190 is an invalid or expired token, 100 a
        # bad parameter, 4/17/32/613 rate limits (Graph API guide "Handling errors").
        self.graph_code = graph_code
        self.graph_subcode = graph_subcode
        self.graph_type = graph_type
        self.graph_message = graph_message
        self.fbtrace_id = fbtrace_id


class FacebookUnavailable(FacebookError):
    """Facebook could not be reached in time, or said it is down for now; worth a retry."""

    code = "facebook_unavailable"
    status = 503
    default_message = _("Facebook cannot be reached right now. Please try again in a moment.")


class FacebookTokenRefused(FacebookError):
    """A user access token that is not valid (any more), or that was issued to another app."""

    code = "facebook_token_refused"
    status = 401
    default_message = _("Your Facebook login is not valid any more. Please log in again.")


class SignedRequestInvalid(DomainError):
    """A signed request (data deletion, deauthorise) that we cannot trust."""

    code = "signed_request_invalid"
    status = 400
    default_message = _("The signed request from Facebook is not valid.")

    def __init__(self, message=None, *, reason: str = "malformed", **kwargs):
        super().__init__(message, **kwargs)
        # Which check failed (malformed, too_large, signature, algorithm, expired, future),
        # for logs and tests; the answer's code stays the same whatever the reason.
        self.reason = reason


# --- Friend groups and invitations ----------------------------------------------------


class GroupNotFound(NotFound):
    """The group does not exist, or the person may not know it does (a private group)."""

    code = "group_not_found"
    default_message = _("This trip does not exist, or you are not one of its travellers.")


class NotOrganiser(DomainError):
    code = "not_organiser"
    status = 403
    default_message = _("Only the trip's organiser can do that.")


class NotMember(DomainError):
    code = "not_member"
    status = 403
    default_message = _("Only the trip's travellers can do that.")


class MemberNotFound(NotFound):
    code = "member_not_found"
    default_message = _("That person is not one of the trip's travellers.")


class InvitationNotFound(NotFound):
    """Unknown or forged: the same answer for both, so a guess learns nothing."""

    code = "invitation_not_found"
    default_message = _(
        "This invitation link is not valid. Check that you have the whole link, or ask the "
        "organiser for a new one."
    )


class InvitationExpired(DomainError):
    code = "invitation_expired"
    status = 410
    default_message = _("This invitation has expired. Ask the organiser for a new link.")


class InvitationRevoked(DomainError):
    code = "invitation_revoked"
    status = 410
    default_message = _(
        "The organiser has withdrawn this invitation. Ask them for a new link if you "
        "still want to join."
    )


class InvitationUsedUp(DomainError):
    code = "invitation_used_up"
    status = 410
    default_message = _("This invitation has already been used. Ask the organiser for a new one.")


class InvitationForSomeoneElse(DomainError):
    code = "invitation_for_someone_else"
    status = 403
    default_message = _("This invitation was sent to someone else. Ask the organiser for a link.")


class GroupFull(Conflict):
    code = "group_full"
    default_message = _("This trip is full: it already has as many travellers as it takes.")


class RemovedFromGroup(DomainError):
    code = "removed_from_group"
    status = 403
    default_message = _("The organiser has taken you off this trip. Ask them if you can come back.")


class OrganiserMustHandOver(Conflict):
    code = "organiser_must_hand_over"
    default_message = _(
        "You organise this trip: hand the role over to another traveller before you leave."
    )


class GroupNotJoinable(DomainError):
    """A group that is not public joined without an invitation."""

    code = "group_not_joinable"
    status = 403
    default_message = _("You need an invitation to join this trip.")


class FriendNotSuggested(NotFound):
    """The same answer whether the id exists or not: nobody learns who has an account."""

    code = "friend_not_suggested"
    default_message = _("That person is not among your Facebook friends who use Sidebyside.")
