"""A local Web Push service (RFC 8030) on loopback, as a browser vendor runs one: for the
tests, which play the browser.

``subscribe(application_server_key)`` does what a browser and its push service do when a
page calls ``pushManager.subscribe``: it makes the browser's P-256 key pair and auth
secret and an endpoint on this service, remembering which application server key the
subscription was made for. Its ``to_json()`` is what ``PushSubscription.toJSON()`` gives
the page, to post to our API.

A push posted to an endpoint is checked as a real push service checks it (RFC 8292):
the ``Authorization: vapid t=<JWT>, k=<key>`` header's key must be the subscription's
application server key, the JWT signed with it (ES256), for this service's origin
(``aud``), not expired and not more than 24 hours ahead, with a ``sub``; ``TTL`` and
``Content-Encoding: aes128gcm`` are required and the body at most 4096 bytes. Then the
body is decrypted with the browser's private key and auth secret (``http_ece``, RFC 8291)
and kept in ``received``. A refused push is kept in ``refused`` with the reason.

``answer(endpoint, status, times=n)`` makes the next ``n`` pushes to that endpoint get
``status`` (410 for a subscription the person turned off, 503 for a service in trouble);
an unknown endpoint gets 404.
"""

import asyncio
import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Self

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_BODY_BYTES = 4096


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserSubscription:
    """What a browser keeps for one subscription (its private key never leaves it)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: str

    @property
    def p256dh(self) -> str:
        return _b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def to_json(self) -> dict:
        """As ``PushSubscription.toJSON()`` in the browser."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": _b64url(self.auth)},
        }


@dataclass
class ReceivedPush:
    """A push decrypted: its JSON payload, and the request's headers (lower-case names)."""

    endpoint: str
    payload: dict
    headers: dict = field(default_factory=dict)


class PushSandbox:
    def __init__(self, *, port: int = 0):
        self.port = port
        self.received: list[ReceivedPush] = []
        self.refused: list[tuple[str, str]] = []
        self._subscriptions: dict[str, BrowserSubscription] = {}
        self._answers: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- What the tests do ---------------------------------------------------------------

    def subscribe(self, application_server_key: str) -> BrowserSubscription:
        subscription = BrowserSubscription(
            endpoint=f"{self.origin}/push/{secrets.token_urlsafe(16)}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=secrets.token_bytes(16),
            application_server_key=application_server_key.rstrip("="),
        )
        with self._lock:
            self._subscriptions[subscription.endpoint] = subscription
        return subscription

    def answer(self, endpoint: str, status: int, *, times: int = 1) -> None:
        """The next ``times`` pushes to ``endpoint`` get ``status`` (and are not kept)."""
        with self._lock:
            self._answers.setdefault(endpoint, []).extend([status] * times)

    def to(self, endpoint: str) -> list[ReceivedPush]:
        with self._lock:
            return [push for push in self.received if push.endpoint == endpoint]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.refused.clear()

    # --- The push service ----------------------------------------------------------------

    def _refuse(self, endpoint: str, status: int, reason: str) -> web.Response:
        with self._lock:
            self.refused.append((endpoint, reason))
        return web.Response(status=status, text=reason)

    def _check_vapid(self, header: str, subscription: BrowserSubscription) -> str | None:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            return "no vapid authorization"
        values = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        token, key = values.get("t", ""), values.get("k", "").rstrip("=")
        if key != subscription.application_server_key:
            return "not the key the subscription was made for"
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64url(key))
            claims = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                audience=self.origin,
                options={"require": ["exp", "aud", "sub"]},
            )
        except (ValueError, jwt.PyJWTError) as error:
            return f"bad VAPID token: {error}"
        if claims["exp"] > time.time() + 24 * 3600:
            return "VAPID token valid for more than 24 hours"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return "VAPID sub is neither mailto: nor https:"
        return None

    async def _push(self, request: web.Request) -> web.Response:
        endpoint = f"{self.origin}{request.path}"
        with self._lock:
            subscription = self._subscriptions.get(endpoint)
            scripted = self._answers.get(endpoint)
            status = scripted.pop(0) if scripted else None
        if subscription is None:
            return self._refuse(endpoint, 404, "no such subscription")
        if status is not None:
            return self._refuse(endpoint, status, f"answered {status} as asked")
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            return self._refuse(endpoint, 413, "payload too large")
        problem = self._check_vapid(request.headers.get("Authorization", ""), subscription)
        if problem:
            return self._refuse(endpoint, 403 if "key" in problem else 401, problem)
        if "TTL" not in request.headers:
            return self._refuse(endpoint, 400, "no TTL")
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(endpoint, 415, "not aes128gcm")
        try:
            plain = http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
            payload = json.loads(plain)
        except Exception as error:
            return self._refuse(endpoint, 400, f"cannot decrypt: {error!r}")
        with self._lock:
            self.received.append(
                ReceivedPush(
                    endpoint=endpoint,
                    payload=payload,
                    headers={name.lower(): value for name, value in request.headers.items()},
                )
            )
        return web.Response(status=201, headers={"Location": f"{endpoint}/m/{len(self.received)}"})

    # --- Lifetime ------------------------------------------------------------------------

    async def _start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES * 4)
        app.router.add_post("/push/{token}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def start(self) -> Self:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
