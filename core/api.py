"""The base of every app's REST API: our view classes and the documented error answers.

Each app's ``api.py`` builds on these (``groups``, ``booking``, ``payments``,
``referrals``); errors themselves are rendered once by ``core.api_errors``.
"""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from core.serializers import ErrorSerializer

_ERROR_DESCRIPTIONS = {
    400: "Invalid input",
    403: "Not logged in (not_authenticated), or not allowed (not_organiser, not_member, …)",
    404: "Not found, or not visible to you (a private or link trip is not found for a stranger)",
    409: "Conflicts with the current state (group_full, organiser_must_hand_over, …)",
    410: "The invitation was real but cannot be used any more (expired, revoked, used up)",
    429: "Too many tries in a short time (rate_limited)",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation, all in the one error shape."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code])
        for code in statuses
    }


class Api(APIView):
    """Base of our API views: a method the view does not have gets 405 before anything is
    asked of the caller (DRF checks permissions first, which would answer 403)."""

    def check_permissions(self, request):
        if not hasattr(self, request.method.lower()):
            raise exceptions.MethodNotAllowed(request.method)
        super().check_permissions(request)


class LoggedInApi(Api):
    """For logged-in people only. With session authentication an anonymous caller gets
    403 ``not_authenticated`` (DRF answers 401 only to schemes that send a challenge)."""

    permission_classes = [IsAuthenticated]
