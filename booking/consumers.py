"""The live plan's websocket door. Thin: it authenticates, parses, rate-limits and calls
the same services as the REST API (``booking.plan``); see docs/live-protocol.md.

``TripConsumer`` (``/ws/trips/<id>/``): members only; a snapshot (or the missed events)
on connect, every change as an event with the trip's version, presence, heartbeats.
``DepartureConsumer`` (``/ws/departures/<id>/``): anyone; seat availability only.
"""

import datetime as dt
import logging
import time

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from booking import live, plan, plan_selectors
from booking.models import Departure, TripPresence
from core.errors import DomainError
from core.json_input import json_loads_bounded

logger = logging.getLogger(__name__)


def database_sync_to_async(func):
    """Channels' wrapper (old connections closed around each call) on a pool of threads,
    not the one thread it uses by default: each socket's database work is independent
    (the trip row lock orders the writes of one trip), and on one thread every member of
    every trip of the process would wait behind everyone else's query. The pool's size is
    asgiref's default executor's (``ASGI_THREADS``). SQLite takes one writer at a time
    anyway (and its shared in-memory test database refuses concurrent writers rather
    than waiting): there, the one thread."""
    return DatabaseSyncToAsync(func, thread_sensitive=_SINGLE_WRITER)


_SINGLE_WRITER = connections["default"].vendor == "sqlite"


# Close codes (4000-4999 are the application's).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_MEMBER = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_ABUSIVE = 4429

MAX_MESSAGE_BYTES = 4096
# A token bucket per connection: RATE_PER_SECOND sustained, RATE_BURST at once. Past it a
# command is refused with ``rate_limited``; a client that keeps going past it
# ``ABUSE_STRIKES`` times in a row is disconnected.
RATE_PER_SECOND = 5.0
RATE_BURST = 20
ABUSE_STRIKES = 50


class CommandError(DomainError):
    code = "bad_command"
    status = 400


def _int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**53:
        raise CommandError(
            _("%(name)s must be a positive whole number.") % {"name": name},
            fields={name: [_("A positive whole number.")]},
        )
    return value


def _leg(value) -> str:
    if value not in ("outbound", "return"):
        raise CommandError(_("leg must be outbound or return."), fields={"leg": [_("Unknown.")]})
    return value


def _str(value, name: str, *, max_length: int = 40, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > max_length or (required and not value):
        raise CommandError(
            _("%(name)s is not valid.") % {"name": name}, fields={name: [_("Not valid.")]}
        )
    return value


def _run(command: dict, *, trip_id: int, user):
    """Parse one client command and call its service. Returns the event (or None)."""
    kind = command.get("type")
    if kind == "vote":
        departure_id = command.get("departure_id")
        return plan.poll_vote(
            trip_id=trip_id,
            user=user,
            leg=_leg(command.get("leg", "outbound")),
            departure_id=None if departure_id is None else _int(departure_id, "departure_id"),
        )
    if kind == "propose":
        ids = command.get("departure_ids")
        if not isinstance(ids, list) or len(ids) > 10:
            raise CommandError(fields={"departure_ids": [_("A list of departures.")]})
        return plan.poll_propose(
            trip_id=trip_id,
            by=user,
            leg=_leg(command.get("leg", "outbound")),
            departure_ids=[_int(i, "departure_ids") for i in ids],
        )
    if kind == "settle":
        return plan.poll_settle(
            trip_id=trip_id,
            by=user,
            leg=_leg(command.get("leg", "outbound")),
            departure_id=_int(command.get("departure_id"), "departure_id"),
        )
    if kind == "choose_fare":
        age = command.get("age")
        if (
            age is not None
            and age != ""
            and (isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 130)
        ):
            raise CommandError(_("age is not valid."), fields={"age": [_("A whole number.")]})
        return plan.fare_choose(
            trip_id=trip_id,
            user=user,
            leg=_leg(command.get("leg", "outbound")),
            fare_class_code=_str(command.get("fare_class"), "fare_class", required=True),
            passenger_type_code=_str(command.get("passenger_type"), "passenger_type") or "adult",
            age=None if age in (None, "") else age,
            card_code=_str(command.get("card"), "card"),
            card_number=_str(command.get("card_number"), "card_number", max_length=40),
        )
    if kind == "pick_seat":
        departure_id = command.get("departure_id")
        return plan.seat_pick(
            trip_id=trip_id,
            user=user,
            leg=_leg(command.get("leg", "outbound")),
            seat_id=_int(command.get("seat_id"), "seat_id"),
            departure_id=None if departure_id is None else _int(departure_id, "departure_id"),
        )
    if kind == "release_seat":
        return plan.seat_release(
            trip_id=trip_id, user=user, leg=_leg(command.get("leg", "outbound"))
        )
    if kind == "sit_together":
        departure_id = command.get("departure_id")
        return plan.sit_together(
            trip_id=trip_id,
            user=user,
            leg=_leg(command.get("leg", "outbound")),
            departure_id=None if departure_id is None else _int(departure_id, "departure_id"),
        )
    raise CommandError(
        _("Unknown command: %(type)s.") % {"type": str(kind)[:40]}, code="unknown_command"
    )


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Channels (4.2+) closes old database connections before every message it hands to a
    consumer, by a hop onto the process's one thread for sync code: for the live plan,
    every event delivered to every member's socket queued behind every other on that one
    thread (the main cost of a pick at a few dozen picks per second, bench/live_fanout.py).
    These consumers never touch the database on the event loop: all their database work
    goes through ``database_sync_to_async`` above, which closes old connections around each
    call in the thread that used them. So messages are dispatched straight to their
    handler."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class TripConsumer(LiveConsumer):
    async def connect(self):
        self.trip_id = int(self.scope["url_route"]["kwargs"]["trip_id"])
        self.user = self.scope.get("user")
        self.group_name = live.trip_group(self.trip_id)
        self.departures: set[int] = set()
        self.tokens = float(RATE_BURST)
        self.refilled_at = time.monotonic()
        self.strikes = 0
        self.joined = False
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            first = await self._first_message()
        except DomainError as exc:
            code = CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_NOT_MEMBER
            await self.send_json({"type": "error", **exc.as_dict()})
            await self.close(code=code)
            return
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        self.joined = True
        online = await self._presence_join()
        await self.send_json(first)
        await self.channel_layer.group_send(self.group_name, live.presence_message(online))

    @database_sync_to_async
    def _first_message(self) -> dict:
        since = self._version_param()
        if since is not None:
            plan_selectors.trip_for_member(user=self.user, trip_id=self.trip_id)
            events = plan_selectors.events_since(trip_id=self.trip_id, version=since)
            if events is not None:
                version = events[-1]["version"] if events else since
                return {"type": "resync", "version": version, "events": events}
        return plan_selectors.plan_snapshot(user=self.user, trip_id=self.trip_id)

    def _version_param(self) -> int | None:
        query = self.scope.get("query_string", b"").decode("ascii", "replace")
        for part in query.split("&"):
            key, _sep, value = part.partition("=")
            if key == "version" and value.isdigit() and len(value) < 16:
                return int(value)
        return None

    @database_sync_to_async
    def _presence_join(self) -> list[int]:
        TripPresence.objects.update_or_create(
            channel_name=self.channel_name,
            defaults={"trip_id": self.trip_id, "user": self.user, "last_seen_at": timezone.now()},
        )
        return plan_selectors.online_user_ids(trip_id=self.trip_id)

    @database_sync_to_async
    def _presence_leave(self) -> list[int]:
        TripPresence.objects.filter(channel_name=self.channel_name).delete()
        return plan_selectors.online_user_ids(trip_id=self.trip_id)

    @database_sync_to_async
    def _presence_touch(self) -> None:
        TripPresence.objects.filter(channel_name=self.channel_name).update(
            last_seen_at=timezone.now()
        )

    async def disconnect(self, code):
        if not getattr(self, "joined", False):
            return
        await self.channel_layer.group_discard(self.group_name, self.channel_name)
        for departure_id in self.departures:
            await self.channel_layer.group_discard(
                live.departure_group(departure_id), self.channel_name
            )
        online = await self._presence_leave()
        await self.channel_layer.group_send(self.group_name, live.presence_message(online))

    # --- Client → server ---------------------------------------------------------------

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.refilled_at) * RATE_PER_SECOND)
        self.refilled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.strikes = 0
            return True
        self.strikes += 1
        return False

    async def receive(self, text_data=None, bytes_data=None):
        if not self.joined:
            return
        # Every frame counts towards the rate limit, the refused ones too.
        if not self._take_token():
            if self.strikes >= ABUSE_STRIKES:
                await self.close(code=CLOSE_ABUSIVE)
                return
            await self._error(None, "rate_limited", _("Too many messages. Slow down a little."))
            return
        if bytes_data is not None or text_data is None:
            await self._error(None, "malformed", _("Send JSON text frames."))
            return
        if len(text_data) > MAX_MESSAGE_BYTES or (
            len(text_data.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES
        ):
            await self._error(None, "message_too_large", _("That message is too large."))
            return
        try:
            command = json_loads_bounded(text_data)  # a too deep one is a ValueError too
        except ValueError:
            await self._error(None, "malformed", _("That message is not valid JSON."))
            return
        if not isinstance(command, dict):
            await self._error(None, "malformed", _("A command is a JSON object."))
            return
        await self.receive_json(command)

    async def receive_json(self, content, **kwargs):
        request_id = content.get("id")
        if not (request_id is None or isinstance(request_id, (int, str))) or (
            isinstance(request_id, str) and len(request_id) > 64
        ):
            request_id = None
        kind = content.get("type")
        if kind == "ping":
            await self._presence_touch()
            await self.send_json({"type": "pong", "id": request_id})
            return
        if kind == "snapshot":
            await self._reply_snapshot(request_id)
            return
        if kind == "watch_departure":
            await self._watch_departure(request_id, content.get("departure_id"))
            return
        with live.outbox() as broadcasts:
            try:
                event = await self._command(content)
            except DomainError as exc:
                event, error = None, {"type": "error", "id": request_id, **exc.as_dict()}
            except Exception:
                logger.exception("command %r on trip %s failed", kind, self.trip_id)
                event, error = (
                    None,
                    {
                        "type": "error",
                        "id": request_id,
                        "code": "server_error",
                        "message": str(_("Something went wrong. Try again.")),
                    },
                )
            else:
                error = None
        # What the command's committed transactions broadcast (a refused command may
        # still have committed some: a hold released on the way), then the answer.
        await live.send_all(self.channel_layer, broadcasts)
        if error is not None:
            await self.send_json(error)
            return
        await self.send_json(
            {"type": "ack", "id": request_id, "version": event.version if event else None}
        )

    @database_sync_to_async
    def _command(self, content: dict):
        return _run(content, trip_id=self.trip_id, user=self.user)

    async def _reply_snapshot(self, request_id):
        try:
            snapshot = await database_sync_to_async(plan_selectors.plan_snapshot)(
                user=self.user, trip_id=self.trip_id
            )
        except DomainError as exc:
            await self.send_json({"type": "error", "id": request_id, **exc.as_dict()})
            await self.close(code=CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_NOT_MEMBER)
            return
        await self.send_json({**snapshot, "id": request_id})

    async def _watch_departure(self, request_id, departure_id):
        try:
            departure_id = _int(departure_id, "departure_id")
        except DomainError as exc:
            await self.send_json({"type": "error", "id": request_id, **exc.as_dict()})
            return
        exists = await database_sync_to_async(Departure.objects.filter(pk=departure_id).exists)()
        if not exists:
            await self._error(request_id, "departure_not_found", _("No such departure."))
            return
        for old in self.departures - {departure_id}:
            await self.channel_layer.group_discard(live.departure_group(old), self.channel_name)
        self.departures = {departure_id}
        await self.channel_layer.group_add(live.departure_group(departure_id), self.channel_name)
        await self.send_json({"type": "ack", "id": request_id, "version": None})

    async def _error(self, request_id, code: str, message: str):
        await self.send_json(
            {"type": "error", "id": request_id, "code": code, "message": str(message)}
        )

    # --- Server → client (channel layer handlers) --------------------------------------

    # The group messages carry their frame's text, made once per broadcast (``live.frame``).

    async def trip_event(self, message):
        await self.send(text_data=message["text"])
        closes_for = message.get("closes_for")
        if closes_for is not None and closes_for == getattr(self.user, "pk", None):
            await self.close(code=CLOSE_NOT_FOUND)

    async def trip_presence(self, message):
        await self.send(text_data=message["text"])

    async def departure_seats(self, message):
        await self.send(text_data=message["text"])


class DepartureConsumer(LiveConsumer):
    """Seat availability of one departure for anyone viewing it: no personal data."""

    async def connect(self):
        self.departure_id = int(self.scope["url_route"]["kwargs"]["departure_id"])
        exists = await database_sync_to_async(
            Departure.objects.filter(pk=self.departure_id).exists
        )()
        await self.accept()
        if not exists:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group_name = live.departure_group(self.departure_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)

    async def disconnect(self, code):
        if hasattr(self, "group_name"):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        # Nothing to say to this socket: it only listens.
        return

    async def departure_seats(self, message):
        await self.send(text_data=message["text"])


def presence_cleanup() -> int:
    """Worker job: forget connections not heard of for PRESENCE_TIMEOUT_SECONDS (their
    process died without saying goodbye). Returns how many rows it deleted."""
    cutoff = timezone.now() - dt.timedelta(
        seconds=settings.SIDEBYSIDE["PRESENCE_TIMEOUT_SECONDS"] * 2
    )
    stale = TripPresence.objects.filter(last_seen_at__lt=cutoff)
    trip_ids = sorted(set(stale.values_list("trip_id", flat=True)))
    with transaction.atomic():
        deleted, _detail = stale.delete()
        for trip_id in trip_ids:
            live.after_commit_presence(trip_id, plan_selectors.online_user_ids(trip_id=trip_id))
    return deleted
