"""The Redis channel layers as configured: a process that falls behind keeps every event.

By default (``CHANNELS_BACKEND=pubsub``) a group message is published once and each
subscribed process fans it out to its own sockets in memory. With ``core``, channels_redis
queues the messages of all the sockets of one process under one Redis key and drops,
silently, what a group_send adds past the layer's capacity: with the library's default
capacity (100) a burst of events lost events (seen in bench/live_fanout.py), hence
``CHANNELS_CAPACITY``. Needs Redis."""

import asyncio
import concurrent.futures
import os
import uuid

import pytest
from channels.layers import channel_layers, get_channel_layer
from django.core.exceptions import ImproperlyConfigured

REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="needs Redis (REDIS_URL): the layer under test is channels_redis"
)

SOCKETS, EVENTS = 3, 150


def _layer(settings, backend: str, **config):
    """A fresh default layer with this backend, a prefix of its own and ``config``."""
    layers = dict(settings.CHANNEL_LAYERS)
    merged = dict(layers["default"]["CONFIG"])
    merged.pop("capacity", None)
    merged.update(config, prefix=f"test-layer-{uuid.uuid4().hex[:8]}")
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend, "CONFIG": merged}}
    channel_layers.backends.pop("default", None)
    return get_channel_layer()


def _in_own_thread(coroutine):
    # An earlier test (Playwright's sync API) may leave an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=30)


@pytest.fixture
def restore_layers(settings):
    saved = settings.CHANNEL_LAYERS
    yield
    channel_layers.backends.pop("default", None)
    settings.CHANNEL_LAYERS = saved


def test_the_configured_layer_is_pubsub_by_default(settings):
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == (
        "channels_redis.pubsub.RedisPubSubChannelLayer"
    )
    assert "capacity" not in settings.CHANNEL_LAYERS["default"]["CONFIG"]


def test_an_unknown_backend_is_refused(monkeypatch):
    import importlib

    import config.settings as config_settings

    monkeypatch.setenv("CHANNELS_BACKEND", "kafka")
    with pytest.raises(ImproperlyConfigured, match="CHANNELS_BACKEND"):
        importlib.reload(config_settings)
    monkeypatch.delenv("CHANNELS_BACKEND")
    importlib.reload(config_settings)


def test_pubsub_a_burst_to_many_sockets_of_one_process_reaches_each_once_in_order(
    settings, restore_layers
):
    layer = _layer(settings, "channels_redis.pubsub.RedisPubSubChannelLayer")

    async def run() -> list[list[int]]:
        names = [await layer.new_channel() for _ in range(SOCKETS)]
        for name in names:
            await layer.group_add("trip.burst", name)
        # A subscription is live once Redis has read it: make sure with a round trip.
        await layer.group_send("trip.burst", {"type": "trip.event", "n": -1})
        for name in names:
            assert (await asyncio.wait_for(layer.receive(name), 5))["n"] == -1
        for n in range(EVENTS):
            await layer.group_send("trip.burst", {"type": "trip.event", "n": n})
        received = []
        for name in names:
            got = [(await asyncio.wait_for(layer.receive(name), 5))["n"] for _ in range(EVENTS)]
            received.append(got)
        await layer.group_discard("trip.burst", names[0])
        await layer.group_send("trip.burst", {"type": "trip.event", "n": EVENTS})
        assert (await asyncio.wait_for(layer.receive(names[1]), 5))["n"] == EVENTS
        # The socket that left the group hears nothing more.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(names[0]), 0.3)
        await layer.flush()
        return received

    received = _in_own_thread(run())
    assert received == [list(range(EVENTS))] * SOCKETS


def test_core_a_burst_to_many_sockets_of_one_process_loses_nothing(settings, restore_layers):
    layer = _layer(settings, "channels_redis.core.RedisChannelLayer", capacity=10_000)

    async def run() -> int:
        names = [await layer.new_channel() for _ in range(SOCKETS)]
        for name in names:
            await layer.group_add("trip.burst", name)
        for n in range(EVENTS):
            await layer.group_send("trip.burst", {"type": "trip.event", "n": n})
        # channels_redis queues each group message once per process (naming the local
        # sockets it is for): every socket of this process shares one queue in Redis;
        # count what it holds (what the process's receive loop would hand out).
        key = layer.prefix + layer.non_local_name(names[0])
        connection = layer.connection(layer.consistent_hash(names[0]))
        queued = await connection.zcard(key)
        await layer.flush()
        return queued

    assert _in_own_thread(run()) == EVENTS


def test_core_with_the_library_default_capacity_drops_events(settings, restore_layers):
    """Why CHANNELS_CAPACITY exists: the same burst with capacity 100 loses events."""
    layer = _layer(settings, "channels_redis.core.RedisChannelLayer", capacity=100)

    async def run() -> int:
        name = await layer.new_channel()
        await layer.group_add("trip.burst", name)
        for n in range(EVENTS):
            await layer.group_send("trip.burst", {"type": "trip.event", "n": n})
        key = layer.prefix + layer.non_local_name(name)
        queued = await layer.connection(layer.consistent_hash(name)).zcard(key)
        await layer.flush()
        return queued

    assert _in_own_thread(run()) < EVENTS
