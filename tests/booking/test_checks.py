"""A deployment on a Redis channel layer under the default prefix is warned at start-up:
Redis publish/subscribe ignores the database number, so deployments sharing a Redis hear
each other's live events unless each has its own CHANNELS_PREFIX."""

import pytest
from django.core import checks
from django.test import override_settings


def redis_layer(**config):
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/3"], **config},
        }
    }


def warning_ids() -> list[str]:
    return [
        message.id
        for message in checks.run_checks(tags=["channels"])
        if message.id.startswith("booking.")
    ]


@pytest.mark.parametrize("config", [{"prefix": "sbs"}, {}])
def test_a_redis_layer_under_the_default_prefix_with_debug_off_is_warned(config):
    with override_settings(DEBUG=False, CHANNEL_LAYERS=redis_layer(**config)):
        assert warning_ids() == ["booking.W001"]


@pytest.mark.parametrize(
    ("debug", "layers"),
    [
        (False, redis_layer(prefix="sidebyside-eu")),  # its own prefix
        (True, redis_layer(prefix="sbs")),  # development
        (False, {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}),  # no Redis
    ],
)
def test_no_warning_with_a_prefix_of_its_own_in_development_or_without_redis(debug, layers):
    with override_settings(DEBUG=debug, CHANNEL_LAYERS=layers):
        assert warning_ids() == []
