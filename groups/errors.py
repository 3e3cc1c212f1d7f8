"""Errors of the Facebook identity, as domain errors (``core.errors``).

Nothing raised by facebook-sdk or requests leaves ``groups.facebook``: it turns them into
these, so a view maps them to an answer in one place like any other domain error. The
Graph API's own error details are kept on the exception for logs, never shown to people.
"""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


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
