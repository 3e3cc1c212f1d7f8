"""Rate limits on joining a trip, creating invitations and creating trips, for both
doors (the pages and the API), counted per user (or per client address before login) in
the cache with django-ratelimit. Shared by every web process when the cache is Redis
(``REDIS_URL``); per process with the default local-memory cache.

A door calls ``rate_limit(request, "join")`` before the service; past the limit it raises
``RateLimited`` (429), rendered like any other domain error.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django_ratelimit import ALL
from django_ratelimit.core import get_usage, is_ratelimited

from core.client_address import client_address
from core.errors import DomainError

ACTIONS = {
    "join": "RATE_JOIN",
    "invite": "RATE_INVITE",
    "trip_create": "RATE_TRIP_CREATE",
}


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    default_message = _("That was a lot of tries in a short time. Please wait a while.")


def _key(group: str, request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_address(request)}"


def rate_limit(request, action: str) -> None:
    """Count one ``action`` (a key of ``ACTIONS``) for the request's user; raise
    ``RateLimited`` past the limit set in ``SIDEBYSIDE`` under its setting's name."""
    rate = settings.SIDEBYSIDE[ACTIONS[action]]
    if is_ratelimited(
        request,
        group=f"sidebyside.{action}",
        key=_key,
        rate=rate,
        method=ALL,
        increment=True,
    ):
        raise RateLimited()


def user_rate_limit(*, user, group: str, rate: str) -> None:
    """Count one action of ``group`` for ``user`` (by user id, whatever the door or the
    connection: a new socket does not start it again); past ``rate`` raise
    ``RateLimited`` with the seconds left in the window as ``retry_after``."""
    usage = get_usage(
        None,
        group=group,
        key=lambda _group, _request: f"user:{user.pk}",
        rate=rate,
        method=ALL,
        increment=True,
    )
    if usage is not None and usage["should_limit"]:
        refused = RateLimited()
        refused.retry_after = max(int(usage["time_left"]), 1)
        raise refused
