"""Broadcasts of the live plan through the channel layer (in-memory by default, Redis with
``REDIS_URL``). Two kinds, never mixed:

- ``trip_group(trip_id)``: the trip's members' sockets. Events of the plan (names, seats,
  statuses), as stored in ``TripEvent``; private details only when their owner shows them.
- ``departure_group(departure_id)``: anyone viewing a departure. Seat availability only
  (``{"seat_id": …, "status": "free" | "held" | "sold"}``), no personal data.

Services call ``after_commit_*``: the message leaves only once the transaction that made
the change has committed, so nobody hears of a change that was rolled back.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def trip_group(trip_id: int) -> str:
    return f"trip.{trip_id}"


def departure_group(departure_id: int) -> str:
    return f"departure.{departure_id}"


def event_message(event) -> dict:
    """A ``TripEvent`` as it travels to clients."""
    return {
        "type": "event",
        "version": event.version,
        "kind": event.kind,
        "payload": event.payload,
        "actor": event.actor_id,
        "at": event.created_at.isoformat() if event.created_at else None,
    }


def _send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - a layer is always configured
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a broadcast is best effort: clients resync from the event log
        logger.exception("broadcast to %s failed", group)


def after_commit_trip_event(event) -> None:
    message = {"type": "trip.event", "event": event_message(event)}
    trip_id = event.trip_id
    transaction.on_commit(lambda: _send(trip_group(trip_id), message))


def after_commit_seats(departure_id: int, seats: dict[int, str]) -> None:
    """``seats``: seat id → its new status (free / held / sold)."""
    if not seats:
        return
    message = {
        "type": "departure.seats",
        "departure_id": departure_id,
        "seats": [{"seat_id": seat_id, "status": status} for seat_id, status in seats.items()],
    }
    transaction.on_commit(lambda: _send(departure_group(departure_id), message))


def after_commit_presence(trip_id: int, users_online: list[int]) -> None:
    message = {"type": "trip.presence", "online": users_online}
    transaction.on_commit(lambda: _send(trip_group(trip_id), message))
