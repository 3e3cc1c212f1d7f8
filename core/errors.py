"""Domain errors: raised by services and selectors, mapped to HTTP (and websocket) answers
in one place (``core.api_errors``). Each has a stable machine ``code`` and a human
``message`` that is safe to show to the user."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "invalid"
    status = 400
    default_message = _("The request is not valid.")
    # Seconds after which trying again may succeed (REST: the ``Retry-After`` header).
    retry_after: int | None = None

    def __init__(self, message=None, *, code=None, fields=None):
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        self.fields = fields or {}
        super().__init__(str(self.message))

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": str(self.message)}
        if self.fields:
            body["fields"] = {key: [str(m) for m in msgs] for key, msgs in self.fields.items()}
        return body


class InvalidInput(DomainError):
    code = "invalid"
    status = 400


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _("That conflicts with the current state.")


class Busy(DomainError):
    """A lock the change needs was not had within the lock timeout (PostgreSQL's
    ``lock_timeout``): nothing was written; the caller may try again (REST: 409 with
    ``Retry-After``; websocket: an error frame; Stripe's webhook: 503, so it retries)."""

    code = "trip_busy"
    status = 409
    default_message = _("Someone is changing this trip right now. Try again in a moment.")
