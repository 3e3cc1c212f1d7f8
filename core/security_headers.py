"""The Content-Security-Policy of every page: Django's own CSP middleware and nonces, with
the origins the app talks to read from the settings on each response.

``SECURE_CSP`` (config/settings.py) is the policy for our own content: scripts and style
sheets from our origin, or inline with the request's nonce (``{{ csp_nonce }}``). To it
this middleware adds the few other origins the pages need, taken from the settings that
name them, so that the Stripe and Facebook sandboxes (whose addresses are only known once
they listen, and which tests set at run time) are allowed exactly as the real services
are in production:

- Stripe.js (``STRIPE_JS_URL``): its script and its frames; its API (``STRIPE_API_BASE``,
  or api.stripe.com) for the card form's calls;
- Facebook (``FACEBOOK_DIALOG_URL``): the login form's redirect to the login dialog (a
  form's redirect is checked against ``form-action``); pictures from ``FACEBOOK_GRAPH_URL``
  and Facebook's picture hosts.

Websockets to our own host are allowed by ``'self'`` in ``connect-src``.
"""

from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.middleware import csp

STRIPE_JS_ORIGIN = "https://js.stripe.com"
# Stripe's documented needs for Stripe.js (card Element and 3-D Secure).
STRIPE_SOURCES = {
    "script-src": ["https://*.js.stripe.com"],
    "frame-src": ["https://*.js.stripe.com", "https://hooks.stripe.com"],
}
STRIPE_API_ORIGIN = "https://api.stripe.com"
# Where Facebook serves profile pictures (Graph's ``picture.url``).
FACEBOOK_PICTURE_SOURCES = ["https://*.fbcdn.net", "https://*.fbsbx.com"]


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


@lru_cache(maxsize=16)
def _policy(
    base: tuple, stripe_js: str, stripe_api: str, facebook_dialog: str, facebook_graph: str
) -> dict:
    policy = {
        directive: list(values) if isinstance(values, tuple) else values
        for directive, values in base
    }
    extra: dict[str, list[str]] = {}

    def allow(directive: str, *sources: str | None) -> None:
        extra.setdefault(directive, []).extend(source for source in sources if source)

    js_origin = _origin(stripe_js)
    allow("script-src", js_origin)
    allow("frame-src", js_origin)
    allow("connect-src", js_origin, _origin(stripe_api) or STRIPE_API_ORIGIN)
    if js_origin == STRIPE_JS_ORIGIN:
        for directive, sources in STRIPE_SOURCES.items():
            allow(directive, *sources)
    allow("form-action", _origin(facebook_dialog))
    allow("img-src", _origin(facebook_graph), _origin(facebook_dialog), *FACEBOOK_PICTURE_SOURCES)
    for directive, sources in extra.items():
        if directive not in policy:
            continue  # the directive is not in the base policy: default-src rules
        if not isinstance(policy[directive], list):
            continue  # True, None or False: left as the settings say
        current = [source for source in policy[directive] if source != csp.CSP.NONE]
        policy[directive] = list(dict.fromkeys(current + sources))
    return policy


def content_security_policy() -> dict:
    """``SECURE_CSP`` with the Stripe and Facebook origins of the current settings; an
    empty dict when ``SECURE_CSP`` is empty (no header)."""
    base = settings.SECURE_CSP
    if not base:
        return {}
    return _policy(
        tuple(
            (directive, values if isinstance(values, str | bool | None) else tuple(values))
            for directive, values in base.items()
        ),
        settings.STRIPE_JS_URL,
        settings.STRIPE_API_BASE,
        settings.FACEBOOK_DIALOG_URL,
        settings.FACEBOOK_GRAPH_URL,
    )


class ContentSecurityPolicyMiddleware(csp.ContentSecurityPolicyMiddleware):
    """Django's, with ``content_security_policy()`` as the policy unless a view chose its
    own (``django.views.decorators.csp.csp_override``)."""

    def process_response(self, request, response):
        if not hasattr(response, "_csp_config"):
            response._csp_config = content_security_policy()
        return super().process_response(request, response)
