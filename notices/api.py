"""The push subscription API (mounted at /api/push/): a logged-in person turns
notifications on or off in the browser they use (``frontend/static/frontend/push.js``).
Session authentication, so a CSRF token is needed; the input is checked by
``notices.serializers`` (size, keys, a push service we may post to)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from core.api import LoggedInApi, errors
from core.errors import NotFound
from notices import push, services
from notices.serializers import (
    PushEndpointSerializer,
    PushSubscriptionOutSerializer,
    PushSubscriptionSerializer,
)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PushSubscribeApi(LoggedInApi):
    @extend_schema(
        request=PushSubscriptionSerializer,
        responses={201: PushSubscriptionOutSerializer, **errors(400, 403, 404)},
        summary="Turn notifications on in this browser (its PushSubscription.toJSON())",
    )
    def post(self, request):
        if not push.push_enabled():
            raise NotFound()
        data = _valid(PushSubscriptionSerializer, request.data)
        subscription = services.push_subscribe(
            user_id=request.user.pk,
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
        )
        return Response(
            PushSubscriptionOutSerializer(subscription).data, status=status.HTTP_201_CREATED
        )


class PushUnsubscribeApi(LoggedInApi):
    @extend_schema(
        request=PushEndpointSerializer,
        responses={204: None, **errors(400, 403)},
        summary="Turn notifications off in this browser (done already: no error)",
    )
    def post(self, request):
        data = _valid(PushEndpointSerializer, request.data)
        services.push_unsubscribe(user_id=request.user.pk, endpoint=data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)
