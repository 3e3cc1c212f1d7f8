"""System checks of the core settings."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def site_url_check(app_configs=None, **kwargs) -> list[Error]:
    """Links in e-mails (pay links, tickets) are made by the worker, which has no request
    to read the host from: production must say where the site is (``SITE_URL``)."""
    if settings.DEBUG:
        return []
    value = settings.SIDEBYSIDE.get("SITE_URL") or ""
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc and parts.path in ("", "/"):
        return []
    return [
        Error(
            "SITE_URL is not set to the site's address."
            if not value
            else f"SITE_URL {value!r} is not a scheme and host (such as https://sidebyside.example).",
            hint=(
                "Set SITE_URL to the public address of the site, e.g. "
                "https://sidebyside.example: links in e-mails (pay links, tickets, "
                "unsubscribe) are built from it."
            ),
            id="core.E001",
        )
    ]
