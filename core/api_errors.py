"""One place that turns errors into the API's JSON error shape:

    {"error": {"code": "invalid", "message": "…", "fields": {"date": ["…"]}}}

``exception_handler`` serves DRF views; ``json_not_found`` / ``json_server_error`` serve
Django's 404/500 for URLs under ``/api/`` so that clients never parse an HTML page.
"""

from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, InvalidInput


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _flatten(value)
        return ""
    if isinstance(detail, list):
        return _flatten(detail[0]) if detail else ""
    return str(detail)


def _fields(detail, prefix: str = "") -> dict[str, list[str]]:
    """Field errors as ``{"path": ["message", …]}``. Nested serializers and list fields
    give dotted paths (``members.1.age``) rather than the repr of a nested dict."""
    if isinstance(detail, dict):
        items = list(detail.items())
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        items = list(enumerate(detail))
    else:
        if not prefix:
            return {}
        return {prefix: [str(item) for item in (detail if isinstance(detail, list) else [detail])]}
    fields: dict[str, list[str]] = {}
    for key, value in items:
        fields.update(_fields(value, f"{prefix}.{key}" if prefix else str(key)))
    return fields


def invalid_input(detail) -> InvalidInput:
    """A serializer's errors (``ValidationError.detail`` or ``serializer.errors``) as the
    domain error every door answers with: ``invalid``, the first field's message, and every
    field's messages."""
    fields = _fields(detail)
    message = (
        _("%(field)s: %(message)s") % {"field": next(iter(fields)), "message": _flatten(detail)}
        if fields and next(iter(fields)) != "non_field_errors"
        else _flatten(detail)
    )
    return InvalidInput(message, fields=fields)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return Response({"error": exc.as_dict()}, status=exc.status, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.ValidationError):
        invalid = invalid_input(detail)
        code, fields, message = invalid.code, invalid.fields, invalid.message
    else:
        fields = {}
        message = _flatten(detail)
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response.data = {"error": body}
    return response


def json_not_found(request, exception=None):
    return JsonResponse(
        {"error": {"code": "not_found", "message": _("Not found.")}},
        status=status.HTTP_404_NOT_FOUND,
    )


def json_server_error(request):
    return JsonResponse(
        {"error": {"code": "server_error", "message": _("Something went wrong on our side.")}},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
