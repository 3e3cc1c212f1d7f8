"""``booking.live.outbox``: a websocket command's broadcasts are collected while its
database work runs in a thread, and sent by the consumer from the event loop."""

import asyncio
import concurrent.futures

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from booking import live


def run(coroutine):
    """Run ``coroutine`` to its end in a thread of its own: an earlier test (Playwright's
    sync API) may leave an event loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=30)


def a_service_that_broadcasts(n: int) -> None:
    live._send(live.trip_group(7), {"type": "trip.event", "n": n})


def test_broadcasts_made_in_a_thread_called_from_the_outbox_are_collected_not_sent(monkeypatch):
    sent = []
    layer = get_channel_layer()

    async def group_send(group, message):
        sent.append((group, message))

    monkeypatch.setattr(layer, "group_send", group_send)

    async def command() -> list:
        with live.outbox() as collected:
            await sync_to_async(a_service_that_broadcasts, thread_sensitive=False)(1)
            await sync_to_async(a_service_that_broadcasts, thread_sensitive=True)(2)
            assert sent == []  # nothing left while the command ran
        # Outside the outbox, a broadcast is sent at once, as from any sync code.
        await sync_to_async(a_service_that_broadcasts, thread_sensitive=False)(3)
        return collected

    collected = run(command())
    assert collected == [
        ("trip.7", {"type": "trip.event", "n": 1}),
        ("trip.7", {"type": "trip.event", "n": 2}),
    ]
    assert sent == [("trip.7", {"type": "trip.event", "n": 3})]

    async def flush():
        await live.send_all(layer, collected)

    run(flush())
    assert [message["n"] for _group, message in sent] == [3, 1, 2]


def test_send_all_goes_on_after_a_failed_broadcast(monkeypatch, caplog):
    layer = get_channel_layer()
    sent = []

    async def group_send(group, message):
        if message["n"] == 1:
            raise ConnectionError("redis went away")
        sent.append(message["n"])

    monkeypatch.setattr(layer, "group_send", group_send)
    messages = [("trip.7", {"type": "trip.event", "n": n}) for n in (1, 2)]
    run(live.send_all(layer, messages))
    assert sent == [2]
    assert "broadcast to trip.7 failed" in caplog.text


@pytest.mark.django_db
def test_only_committed_changes_are_collected(django_capture_on_commit_callbacks):
    from django.db import transaction

    with live.outbox() as collected, django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            transaction.on_commit(lambda: a_service_that_broadcasts(1))
            raise RuntimeError("refused")
        with transaction.atomic():
            transaction.on_commit(lambda: a_service_that_broadcasts(2))
    assert collected == [("trip.7", {"type": "trip.event", "n": 2})]
