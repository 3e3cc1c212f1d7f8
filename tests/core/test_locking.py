"""Waits bounded by the application on PostgreSQL (core/locking.py, config/settings.py):
every connection runs with the configured timeouts, and a lock not had in time is the
domain error ``trip_busy`` at every door — REST 409 with ``Retry-After``, a websocket
error frame — with nothing written. (Stripe's webhook: tests/payments/test_webhook_busy.py.)

Needs PostgreSQL (DATABASE_URL): SQLite has no lock timeout (it serialises writers).
"""

import time

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from booking.models import Seat, SeatAllocation, TripEvent
from config.routing import websocket_urlpatterns
from tests import factories
from tests.pg import on_postgres, row_locked

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not on_postgres, reason="needs PostgreSQL (DATABASE_URL): lock timeouts"),
    pytest.mark.django_db(transaction=True),
]

LOCK_TIMEOUT = 3.0  # DATABASE_LOCK_TIMEOUT_SECONDS's default
MARGIN = 2.0


def test_every_connection_runs_with_the_timeouts_of_the_settings():
    with connection.cursor() as cursor:
        shown = {}
        for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout"):
            cursor.execute(f"SHOW {name}")
            shown[name] = cursor.fetchone()[0]
    assert shown == {
        "lock_timeout": "3s",
        "statement_timeout": "15s",
        "idle_in_transaction_session_timeout": "30s",
    }
    assert "-c lock_timeout=3000" in settings.DATABASES["default"]["OPTIONS"]["options"]


def _busy_trip():
    trip, (_olivia, ana), (early, _late) = factories.planned_trip(travellers=2)
    seat = Seat.objects.filter(coach__vehicle=early.vehicle, comfort_class="second").first()
    trip.refresh_from_db()
    return trip, ana, early, seat


def _unchanged(trip) -> tuple:
    return (
        TripEvent.objects.filter(trip=trip).count(),
        SeatAllocation.objects.filter(state="held").count(),
    )


def test_a_pick_on_a_trip_locked_elsewhere_answers_409_trip_busy_with_retry_after():
    trip, ana, early, seat = _busy_trip()
    client = APIClient()
    client.force_login(ana)
    before = _unchanged(trip)

    with row_locked(trip):
        started = time.monotonic()
        answer = client.post(
            f"/api/trips/{trip.pk}/plan/seat/",
            {"leg": "outbound", "departure_id": early.pk, "seat_id": seat.pk},
            format="json",
        )
        waited = time.monotonic() - started

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "trip_busy"
    assert answer["Retry-After"] == "1"
    assert LOCK_TIMEOUT - 0.5 < waited < LOCK_TIMEOUT + MARGIN
    assert _unchanged(trip) == before
    # The lock gone, the same pick goes through.
    again = client.post(
        f"/api/trips/{trip.pk}/plan/seat/",
        {"leg": "outbound", "departure_id": early.pk, "seat_id": seat.pk},
        format="json",
    )
    assert again.status_code == 201


def test_a_pick_over_the_socket_on_a_trip_locked_elsewhere_gets_a_trip_busy_error_frame():
    trip, ana, early, seat = _busy_trip()
    router = URLRouter(websocket_urlpatterns)

    async def scenario():
        communicator = WebsocketCommunicator(router, f"/ws/trips/{trip.pk}/")
        communicator.scope["user"] = ana
        connected, _sub = await communicator.connect(timeout=10)
        assert connected
        assert (await communicator.receive_json_from(timeout=10))["type"] == "snapshot"
        try:
            with row_locked(trip):
                await communicator.send_json_to(
                    {
                        "id": "p1",
                        "type": "pick_seat",
                        "leg": "outbound",
                        "departure_id": early.pk,
                        "seat_id": seat.pk,
                    }
                )
                while True:
                    frame = await communicator.receive_json_from(timeout=LOCK_TIMEOUT + MARGIN)
                    if frame["type"] in ("ack", "error"):
                        return frame
        finally:
            await communicator.disconnect()

    before = _unchanged(trip)
    frame = async_to_sync(scenario)()

    assert frame["id"] == "p1"
    assert frame["type"] == "error" and frame["code"] == "trip_busy", frame
    assert _unchanged(trip) == before
