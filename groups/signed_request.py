"""Facebook signed requests, read with suspicion.

Facebook POSTs a ``signed_request`` form field to the data deletion and deauthorise
callbacks: ``<signature>.<payload>``, both base64url (Facebook leaves the padding out). The
signature is HMAC-SHA256 of the payload *as sent* (the base64url text), keyed with the app
secret; the payload is a JSON object with ``algorithm`` ("HMAC-SHA256"), ``issued_at``
(Unix seconds) and, for those callbacks, ``user_id`` (the app-scoped user id).

facebook-sdk has ``parse_signed_request``, but it compares signatures with ``!=`` (a timing
leak), never looks at ``issued_at`` (a captured request can be replayed forever), and lets
JSON and Unicode errors escape. This parser is the one we use: whatever the input, it
returns the payload or raises ``SignedRequestInvalid``.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from groups.errors import SignedRequestInvalid

ALGORITHM = "HMAC-SHA256"
# Real signed requests are a few hundred bytes; refusing more bounds the work an
# unauthenticated caller can make us do before the signature is even checked.
SIGNED_REQUEST_MAX_BYTES = 8 * 1024
# Clocks drift a little; a request dated further ahead than this was not made by Facebook.
SIGNED_REQUEST_FUTURE_SKEW_SECONDS = 300

# Padding-tolerant: Facebook sends none, other encoders add up to two "=".
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def _base64url_decode(text: str) -> bytes:
    if not _BASE64URL.fullmatch(text):
        raise SignedRequestInvalid(_("The signed request is not in base64url."), reason="malformed")
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        # A length of 4n+1 characters cannot be base64.
        raise SignedRequestInvalid(
            _("The signed request is not in base64url."), reason="malformed"
        ) from None


def _base64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(encoded_payload: str, secret: str) -> bytes:
    return hmac.new(
        secret.encode("utf-8"), encoded_payload.encode("ascii"), hashlib.sha256
    ).digest()


def _refuse_constant(name: str):
    # NaN and Infinity are not JSON; Python's decoder accepts them unless told not to.
    raise ValueError(name)


def signed_request_parse(
    signed_request: str | bytes,
    *,
    secret: str | None = None,
    max_age_seconds: int | None = None,
    now: float | None = None,
) -> dict:
    """The verified payload of ``signed_request``, or ``SignedRequestInvalid``.

    ``secret`` and ``max_age_seconds`` default to the ``FACEBOOK_APP_SECRET`` and
    ``FACEBOOK_SIGNED_REQUEST_MAX_AGE_SECONDS`` settings; ``now`` (Unix seconds) to the clock.
    """
    secret = settings.FACEBOOK_APP_SECRET if secret is None else secret
    if not secret:
        # An empty HMAC key would let anyone sign: a configuration error, not bad input.
        raise ImproperlyConfigured(
            "FACEBOOK_APP_SECRET is empty: signed requests cannot be checked."
        )
    if max_age_seconds is None:
        max_age_seconds = settings.FACEBOOK_SIGNED_REQUEST_MAX_AGE_SECONDS

    if not isinstance(signed_request, str | bytes):
        raise SignedRequestInvalid(_("The signed request is missing."), reason="malformed")
    if len(signed_request) > SIGNED_REQUEST_MAX_BYTES:
        raise SignedRequestInvalid(_("The signed request is too large."), reason="too_large")
    if isinstance(signed_request, bytes):
        try:
            signed_request = signed_request.decode("ascii")
        except UnicodeDecodeError:
            raise SignedRequestInvalid(
                _("The signed request is not in base64url."), reason="malformed"
            ) from None

    parts = signed_request.split(".")
    if len(parts) != 2:
        raise SignedRequestInvalid(
            _("The signed request must be a signature and a payload."), reason="malformed"
        )
    encoded_signature, encoded_payload = parts

    # Authenticate before parsing anything the sender chose.
    signature = _base64url_decode(encoded_signature)
    if not _BASE64URL.fullmatch(encoded_payload):
        raise SignedRequestInvalid(_("The signed request is not in base64url."), reason="malformed")
    if not hmac.compare_digest(signature, _signature(encoded_payload, secret)):
        raise SignedRequestInvalid(
            _("The signed request's signature does not match."), reason="signature"
        )

    try:
        payload = json.loads(
            _base64url_decode(encoded_payload).decode("utf-8"),
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad JSON and over-long integers.
        raise SignedRequestInvalid(
            _("The signed request's payload is not JSON."), reason="malformed"
        ) from None
    if not isinstance(payload, dict):
        raise SignedRequestInvalid(
            _("The signed request's payload is not a JSON object."), reason="malformed"
        )

    algorithm = payload.get("algorithm")
    if not isinstance(algorithm, str) or algorithm.upper() != ALGORITHM:
        raise SignedRequestInvalid(
            _("The signed request does not say it uses HMAC-SHA256."), reason="algorithm"
        )

    issued_at = payload.get("issued_at")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int):
        raise SignedRequestInvalid(_("The signed request has no issue time."), reason="malformed")
    # Integer arithmetic: a huge issued_at cannot overflow a float.
    now_seconds = int(time.time() if now is None else now)
    if now_seconds - issued_at > max_age_seconds:
        raise SignedRequestInvalid(_("The signed request has expired."), reason="expired")
    if issued_at - now_seconds > SIGNED_REQUEST_FUTURE_SKEW_SECONDS:
        raise SignedRequestInvalid(_("The signed request is dated in the future."), reason="future")
    return payload


def signed_request_make(payload: dict, secret: str) -> str:
    """Sign ``payload`` exactly as given, as Facebook would (for tests and the fake server).

    Nothing is added: put ``algorithm`` and ``issued_at`` in the payload yourself.
    """
    encoded_payload = _base64url_encode(
        json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
    )
    return f"{_base64url_encode(_signature(encoded_payload, secret))}.{encoded_payload}"
