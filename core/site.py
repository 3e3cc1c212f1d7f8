"""Where the site is, for links that leave it (e-mails: pay links, tickets, unsubscribe).

``site_url()`` answers, in order: ``SITE_URL`` when it is set (production must set it:
``core.E001``, a deploy check, refuses to go without it), else the origin of the request
being served (``SiteOriginMiddleware``) or of the request that queued the message being
sent (``notices.Message.site_url``, kept at queue time: the worker has no request), else
``SITE_URL_FALLBACK``: the address ``manage.py serve`` listens on (it sets it for its
children when debug is on), by default ``http://127.0.0.1:8000``.

The request's origin is Django's ``request.get_host()``, which ``ALLOWED_HOSTS`` guards:
a forged Host header never reaches a link.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import DisallowedHost

_origin: ContextVar[str] = ContextVar("site_origin", default="")


def configured_site_url() -> str:
    return (settings.SIDEBYSIDE.get("SITE_URL") or "").rstrip("/")


def current_origin() -> str:
    """The origin of the request being served (or of the message being sent), else ""."""
    return _origin.get()


def site_url() -> str:
    """Scheme and host of the site, no trailing slash."""
    fallback = settings.SIDEBYSIDE.get("SITE_URL_FALLBACK") or "http://127.0.0.1:8000"
    return configured_site_url() or current_origin() or fallback.rstrip("/")


def request_origin(request) -> str:
    try:
        return f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return ""


@contextmanager
def site_origin(origin: str) -> Iterator[None]:
    """Within the block, ``site_url()`` falls back on ``origin`` ("" changes nothing)."""
    token = _origin.set(origin.rstrip("/") if origin else _origin.get())
    try:
        yield
    finally:
        _origin.reset(token)


class SiteOriginMiddleware:
    """Remembers the request's origin for ``site_url()`` while the request is served."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with site_origin(request_origin(request)):
            return self.get_response(request)
