"""System checks of the live plan's deployment (``manage.py check``; also run when
``serve``, ``worker`` and ``migrate`` start)."""

from django.conf import settings
from django.core.checks import Warning, register

# config/settings.py's default CHANNELS_PREFIX, and channels_redis's own.
DEFAULT_CHANNELS_PREFIXES = ("sbs", "asgi")


@register("channels")
def channels_prefix_check(app_configs=None, **kwargs) -> list[Warning]:
    """Redis publish/subscribe channels ignore the database number of ``REDIS_URL``: two
    deployments on one Redis with the same prefix hear each other's groups (a trip of one
    reaching the sockets of the same trip id in the other). Outside development, a Redis
    channel layer under a default prefix is most likely such a shared one."""
    layer = settings.CHANNEL_LAYERS.get("default", {})
    if settings.DEBUG or not layer.get("BACKEND", "").startswith("channels_redis."):
        return []
    prefix = layer.get("CONFIG", {}).get("prefix", "asgi")
    if prefix not in DEFAULT_CHANNELS_PREFIXES:
        return []
    return [
        Warning(
            f"The channel layer uses Redis under the default prefix {prefix!r}.",
            hint=(
                "Set CHANNELS_PREFIX to a name of this deployment's own: Redis "
                "publish/subscribe ignores the database number of REDIS_URL, so every "
                "deployment sharing the Redis with the same prefix receives the others' "
                "live events."
            ),
            id="booking.W001",
        )
    ]
