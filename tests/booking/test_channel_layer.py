"""The Redis channel layer as configured: a process that falls behind keeps every event.

channels_redis queues the messages of all the sockets of one process under one Redis key
and drops, silently, what a group_send adds past the layer's capacity. One Daphne process
of the live plan serves hundreds of sockets; with the library's default capacity (100) a
burst of events to them lost events (seen in bench/live_fanout.py). Needs Redis."""

import asyncio
import concurrent.futures
import os
import uuid

import pytest
from channels.layers import get_channel_layer

REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="needs Redis (REDIS_URL): the layer under test is channels_redis"
)


def test_a_burst_to_many_sockets_of_one_process_loses_nothing(settings):
    layers = dict(settings.CHANNEL_LAYERS)
    config = dict(layers["default"]["CONFIG"])
    config["prefix"] = f"test-capacity-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {"default": {**layers["default"], "CONFIG": config}}
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    try:
        layer = get_channel_layer()
        # channels_redis queues each group message once per process (naming the local
        # sockets it is for): 150 events to a trip of 3 sockets queue 150 entries.
        sockets, events = 3, 150

        async def run() -> int:
            names = [await layer.new_channel() for _ in range(sockets)]
            for name in names:
                await layer.group_add("trip.burst", name)
            for n in range(events):
                await layer.group_send("trip.burst", {"type": "trip.event", "n": n})
            # Every socket of this process shares one queue in Redis: count what it holds
            # (what the process's receive loop would hand out), nobody reading meanwhile.
            key = layer.prefix + layer.non_local_name(names[0])
            connection = layer.connection(layer.consistent_hash(names[0]))
            queued = await connection.zcard(key)
            await layer.flush()
            return queued

        # In a thread of its own: an earlier test (Playwright's sync API) may leave an event
        # loop running in this one.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            queued = pool.submit(asyncio.run, run()).result(timeout=30)
        assert queued == events
    finally:
        channel_layers.backends.pop("default", None)
        settings.CHANNEL_LAYERS = layers
