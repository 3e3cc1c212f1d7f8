"""Broadcasts of the live plan through the channel layer (in-memory by default, Redis with
``REDIS_URL``). Two kinds, never mixed:

- ``trip_group(trip_id)``: the trip's members' sockets. Events of the plan (names, seats,
  statuses), as stored in ``TripEvent``; private details only when their owner shows them.
- ``departure_group(departure_id)``: anyone viewing a departure. Seat availability only
  (``{"seat_id": …, "status": "free" | "held" | "sold"}``), no personal data.

Services call ``after_commit_*``: the message leaves only once the transaction that made
the change has committed, so nobody hears of a change that was rolled back.
"""

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar

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


# A websocket command's broadcasts, collected for its consumer to send itself once the
# service has returned (``outbox``). Without it each broadcast would hop from the
# database thread to the event loop and back (``async_to_sync``) while the thread waits:
# two hops per seat pick, the busiest command of the live plan.
_outbox: ContextVar[list | None] = ContextVar("sidebyside_live_outbox", default=None)


@contextlib.contextmanager
def outbox() -> Iterator[list[tuple[str, dict]]]:
    """Collect the broadcasts of the services called within (from this async context,
    through ``database_sync_to_async``: the context goes with the call) instead of sending
    them; the caller sends the (group, message) pairs with ``send_all`` afterwards. They
    are still only those of committed transactions."""
    messages: list[tuple[str, dict]] = []
    token = _outbox.set(messages)
    try:
        yield messages
    finally:
        _outbox.reset(token)


async def send_all(layer, messages: list[tuple[str, dict]]) -> None:
    """Send what an ``outbox`` collected, in order; best effort, as ``_send``."""
    for group, message in messages:
        try:
            await layer.group_send(group, message)
        except Exception:
            logger.exception("broadcast to %s failed", group)


def _send(group: str, message: dict) -> None:
    collected = _outbox.get()
    if collected is not None:
        collected.append((group, message))
        return
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - a layer is always configured
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a broadcast is best effort: clients resync from the event log
        logger.exception("broadcast to %s failed", group)


# A member who leaves (or is removed) hears of it, then their socket to the trip closes.
LEAVING_KINDS = frozenset({"member_left", "member_removed"})


def frame(content: dict) -> str:
    """A frame's text as ``send_json`` makes it. A group message carries its frame made
    once, when the broadcast is made: each socket of the group sends that text as it is,
    instead of encoding the same event again for every member (eight times per seat pick),
    and the channel layer carries one string instead of the event's nested values."""
    return json.dumps(content)


def trip_event_message(event) -> dict:
    """The group message of a ``TripEvent``: its frame, its version (a socket that has just
    connected drops what its first frame already covers), and whose socket closes after
    it."""
    message = {
        "type": "trip.event",
        "text": frame(event_message(event)),
        "version": event.version,
    }
    if event.kind in LEAVING_KINDS:
        message["closes_for"] = event.payload.get("user_id")
    return message


def presence_message(users_online: list[int]) -> dict:
    return {"type": "trip.presence", "text": frame({"type": "presence", "online": users_online})}


def seats_message(departure_id: int, seats: dict[int, str]) -> dict:
    """``seats``: seat id → its new status (free / held / sold)."""
    content = {
        "type": "seats",
        "departure_id": departure_id,
        "seats": [{"seat_id": seat_id, "status": status} for seat_id, status in seats.items()],
    }
    return {"type": "departure.seats", "text": frame(content)}


def after_commit_trip_event(event) -> None:
    message = trip_event_message(event)
    trip_id = event.trip_id
    transaction.on_commit(lambda: _send(trip_group(trip_id), message))


def after_commit_seats(departure_id: int, seats: dict[int, str]) -> None:
    """``seats``: seat id → its new status (free / held / sold)."""
    if not seats:
        return
    message = seats_message(departure_id, seats)
    transaction.on_commit(lambda: _send(departure_group(departure_id), message))


def after_commit_presence(trip_id: int, users_online: list[int]) -> None:
    message = presence_message(users_online)
    transaction.on_commit(lambda: _send(trip_group(trip_id), message))
