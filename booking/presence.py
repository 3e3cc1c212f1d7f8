"""Who is on a trip's page right now: one ``TripPresence`` row per open trip socket.

The websocket door (``booking.consumers.TripConsumer``) calls these on connect, on each
heartbeat and on close; the worker runs ``presence_cleanup`` for the connections whose
process died without saying goodbye. The list of who is online is read by
``booking.plan_selectors.online_user_ids`` (a connection counts for
``PRESENCE_TIMEOUT_SECONDS`` after it was last heard of).
"""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from booking import live, plan_selectors
from booking.models import TripPresence


def presence_join(*, trip_id: int, user, channel_name: str) -> list[int]:
    """Record the connection ``channel_name`` of ``user`` on the trip; returns who is
    online now (for the ``presence`` frame the consumer sends)."""
    with transaction.atomic():
        TripPresence.objects.update_or_create(
            channel_name=channel_name,
            defaults={"trip_id": trip_id, "user": user, "last_seen_at": timezone.now()},
        )
    return plan_selectors.online_user_ids(trip_id=trip_id)


def presence_touch(*, channel_name: str) -> None:
    """The connection was heard of (a heartbeat)."""
    TripPresence.objects.filter(channel_name=channel_name).update(last_seen_at=timezone.now())


def presence_leave(*, trip_id: int, channel_name: str) -> list[int]:
    """Forget the connection; returns who is still online."""
    TripPresence.objects.filter(channel_name=channel_name).delete()
    return plan_selectors.online_user_ids(trip_id=trip_id)


def presence_cleanup() -> int:
    """Worker job: forget connections not heard of for twice PRESENCE_TIMEOUT_SECONDS (their
    process died without saying goodbye) and tell each of their trips who is left online.
    Returns how many rows it deleted."""
    cutoff = timezone.now() - dt.timedelta(
        seconds=settings.SIDEBYSIDE["PRESENCE_TIMEOUT_SECONDS"] * 2
    )
    stale = TripPresence.objects.filter(last_seen_at__lt=cutoff)
    with transaction.atomic():
        trip_ids = sorted(set(stale.values_list("trip_id", flat=True)))
        deleted, _detail = stale.delete()
        for trip_id in trip_ids:
            live.after_commit_presence(trip_id, plan_selectors.online_user_ids(trip_id=trip_id))
    return deleted
