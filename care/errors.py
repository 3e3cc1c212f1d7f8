from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, InvalidInput, NotFound


class CaseNotFound(NotFound):
    """Also for a case that exists but is not the caller's: a stranger learns nothing."""

    code = "case_not_found"
    default_message = _("No such conversation.")


class NotCareStaff(NotFound):
    code = "not_found"
    default_message = _("Not found.")


class EmptyMessage(InvalidInput):
    code = "empty_message"
    default_message = _("Write a message first.")


class CaseResolved(Conflict):
    code = "case_resolved"
    default_message = _("This conversation is already resolved.")
