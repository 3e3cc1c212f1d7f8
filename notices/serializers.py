"""The input of the push subscription API (``notices.api``): what a browser's
``PushSubscription.toJSON()`` gives, checked before anything is stored."""

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric import ec
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from notices import push
from notices.models import PushSubscription


def _b64url(value: str) -> bytes:
    if not value or any(c not in _B64URL for c in value.rstrip("=")):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class PushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(max_length=100, help_text="The browser's P-256 key, base64url")
    auth = serializers.CharField(max_length=32, help_text="The browser's auth secret, base64url")

    def validate_p256dh(self, value: str) -> str:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(value))
        except ValueError:
            raise serializers.ValidationError(_("This is not a browser's push key.")) from None
        return value.rstrip("=")

    def validate_auth(self, value: str) -> str:
        try:
            secret = _b64url(value)
        except ValueError:
            secret = b""
        if len(secret) != 16:
            raise serializers.ValidationError(_("This is not a browser's push secret."))
        return value.rstrip("=")


class PushEndpointSerializer(serializers.Serializer):
    endpoint = serializers.CharField(max_length=PushSubscription.ENDPOINT_MAX_LENGTH)


class PushSubscriptionSerializer(PushEndpointSerializer):
    """A browser's subscription, as ``PushSubscription.toJSON()`` gives it
    (``expirationTime`` is accepted and ignored: the push service says when it is gone)."""

    keys = PushKeysSerializer()
    expirationTime = serializers.IntegerField(required=False, allow_null=True, min_value=0)

    def validate_endpoint(self, value: str) -> str:
        if push.endpoint_refusal(value):
            raise serializers.ValidationError(
                _("This browser's push service is not one we can send to.")
            )
        return value


class PushSubscriptionOutSerializer(serializers.Serializer):
    endpoint = serializers.CharField()
    created_at = serializers.DateTimeField()
