"""Facebook's platform callbacks: data deletion (and the status page it links to) and
deauthorise. Facebook POSTs a ``signed_request`` form field from its servers: no browser,
no cookie, no CSRF token, hence ``csrf_exempt``; the signature is the authentication
(``groups.signed_request``). See docs/privacy.md.
"""

import logging

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from groups import account_services
from groups.errors import SignedRequestInvalid
from groups.models import DataDeletionRequest
from groups.signed_request import signed_request_parse

logger = logging.getLogger(__name__)


def _facebook_user_id(request) -> str:
    """The app-scoped user id of a verified signed request, or ``SignedRequestInvalid``."""
    payload = signed_request_parse(request.POST.get("signed_request"))
    user_id = payload.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or not str(user_id):
        raise SignedRequestInvalid(_("The signed request names no user."), reason="malformed")
    return str(user_id)


def _refusal(error: SignedRequestInvalid) -> JsonResponse:
    logger.warning("Refused a Facebook signed request: %s", error.reason)
    return JsonResponse({"error": error.as_dict()}, status=error.status)


def _not_configured() -> JsonResponse:
    # No app secret: nothing can be verified, so nothing is done (Facebook retries).
    logger.error("A Facebook callback arrived but FACEBOOK_APP_SECRET is empty")
    return JsonResponse(
        {
            "error": {
                "code": "facebook_not_configured",
                "message": _("Facebook is not configured on this server."),
            }
        },
        status=503,
    )


@csrf_exempt
@require_POST
@never_cache
def data_deletion(request):
    """Facebook asks us to delete a person's data; the answer is Facebook's documented
    ``{"url": …, "confirmation_code": …}``, which Facebook shows the person."""
    try:
        facebook_id = _facebook_user_id(request)
    except SignedRequestInvalid as error:
        return _refusal(error)
    except ImproperlyConfigured:
        return _not_configured()
    deletion = account_services.facebook_data_delete(facebook_id=facebook_id)
    url = request.build_absolute_uri(
        reverse("facebook_deletion_status", args=[deletion.confirmation_code])
    )
    return JsonResponse({"url": url, "confirmation_code": deletion.confirmation_code})


@csrf_exempt
@require_POST
@never_cache
def deauthorise(request):
    """The person removed our app in their Facebook settings."""
    try:
        facebook_id = _facebook_user_id(request)
    except SignedRequestInvalid as error:
        return _refusal(error)
    except ImproperlyConfigured:
        return _not_configured()
    account_services.facebook_deauthorise(facebook_id=facebook_id)
    return JsonResponse({"status": "ok"})


@require_GET
def deletion_status(request, code: str):
    """The page Facebook links the person to: what became of their request."""
    deletion = DataDeletionRequest.objects.filter(confirmation_code=code).first()
    if deletion is None:
        raise Http404()
    response = render(request, "groups/deletion_status.html", {"deletion": deletion})
    # The code is the only key to this page: keep it out of other sites' referrers.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
