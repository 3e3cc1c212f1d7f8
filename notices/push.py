"""Web Push (RFC 8030, 8291, 8292): the only module that imports ``pywebpush``.

A push message of the outbox goes to every browser where its recipient turned
notifications on (``PushSubscription``): the payload (title, body, the page to open) is
encrypted for that browser (``aes128gcm``) and posted to its push service, signed with
our VAPID key; the service worker (``frontend/static/frontend/sw.js``) shows it.

What a push service answers decides what happens (``notices.sending`` applies the
outbox's rules to the outcome):

- 201 (or 200/202) from at least one browser: the message is ``sent``;
- 404 or 410: that subscription is gone (turned off, or dropped by the browser): it is
  deleted, and the message goes on to the person's other browsers;
- 429, 5xx, a timeout or a connection refused: postponed (``PushPostponed``), tried again
  with the outbox's backoff;
- any other 4xx (a payload or a key the service refuses): that browser will never take
  it; when no browser took it, the message ``failed`` for good.

A retry posts again only if no browser took the message: a person with two browsers,
one of which was away, may miss it on that one rather than get it twice on the other.
Each post carries ``Topic: m<message id>``: a push service that still holds an earlier
copy for an offline device replaces it instead of delivering both.
"""

import ipaddress
import json
import logging
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from notices import services
from notices.kinds import Push
from notices.models import Message, PushSubscription

logger = logging.getLogger(__name__)

# A push service accepts 4096 bytes of payload; the encryption takes 103 of them.
PAYLOAD_MAX_BYTES = 3000
TIMEOUT_SECONDS = 10


class PushPostponed(Exception):
    """No browser took the message this time, and one may later: try again."""


class PushRefused(Exception):
    """No browser will ever take this message (all gone, or all refusing it)."""


def push_enabled() -> bool:
    return bool(settings.VAPID_PRIVATE_KEY)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_refusal(endpoint: str) -> str | None:
    """Why the worker would not post to ``endpoint``, or ``None``: an https URL on one of
    the push services of ``WEB_PUSH_HOSTS``; in debug and the tests
    (``WEB_PUSH_ALLOW_LOOPBACK``) also a loopback URL (the local push service). A client
    cannot make the worker post elsewhere."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return "not a URL"
    if parts.username or parts.password:
        return "credentials in the URL"
    if settings.WEB_PUSH_ALLOW_LOOPBACK and parts.scheme in ("http", "https") and _loopback(host):
        return None
    if parts.scheme != "https":
        return "not https"
    for allowed in settings.WEB_PUSH_HOSTS:
        allowed = allowed.strip().lower()
        if (allowed.startswith(".") and host.endswith(allowed)) or host == allowed:
            return None
    return "not a known push service"


def _vapid() -> Vapid:
    return Vapid.from_string(settings.VAPID_PRIVATE_KEY)


def payload(message: Message, content: Push) -> bytes:
    """What the service worker reads: JSON, bounded (a long title or body is cut)."""
    data = {
        "title": content.title[:120],
        "body": content.body[:400],
        "url": content.url,
        # Notifications with the same tag replace each other on the device.
        "tag": f"{message.kind}-{message.object_id}",
    }
    encoded = json.dumps(data, ensure_ascii=False).encode()
    if len(encoded) > PAYLOAD_MAX_BYTES:
        data["body"] = data["body"][:100]
        encoded = json.dumps(data, ensure_ascii=False).encode()
    return encoded


def push_deliver(message: Message, content: Push) -> int:
    """Post ``content`` to each of the recipient's browsers. Returns how many took it (0:
    they have turned notifications off everywhere since it was queued); raises
    ``PushPostponed`` or ``PushRefused`` when none of their browsers did."""
    subscriptions = list(PushSubscription.objects.filter(user_id=message.recipient_id))
    if not subscriptions:
        return 0
    body = payload(message, content)
    vapid = _vapid()
    delivered = 0
    postponed: Exception | None = None
    refused: list[str] = []
    for subscription in subscriptions:
        refusal = endpoint_refusal(subscription.endpoint)
        if refusal:
            refused.append(f"{subscription.pk}: {refusal}")
            continue
        try:
            webpush(
                subscription_info={
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=body,
                vapid_private_key=vapid,
                vapid_claims={"sub": settings.VAPID_SUBJECT},
                content_encoding="aes128gcm",
                ttl=settings.WEB_PUSH_TTL_SECONDS,
                headers={"Topic": f"m{message.pk}", "Urgency": "normal"},
                timeout=TIMEOUT_SECONDS,
            )
        except WebPushException as error:
            status = error.response.status_code if error.response is not None else None
            if status in (404, 410):
                services.push_subscription_gone(subscription_id=subscription.pk)
                refused.append(f"{subscription.pk}: gone ({status})")
            elif status is None or status in (408, 429) or status >= 500:
                postponed = error
            else:
                refused.append(f"{subscription.pk}: refused ({status})")
            continue
        except requests.RequestException as error:
            postponed = error
            continue
        delivered += 1
        PushSubscription.objects.filter(pk=subscription.pk).update(last_success_at=timezone.now())
    if delivered:
        return delivered
    if postponed is not None:
        raise PushPostponed(repr(postponed))
    raise PushRefused("; ".join(refused))
