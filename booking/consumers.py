"""The live plan's websocket door. Thin: it authenticates, parses the frame and runs the
command through the same command table as the REST API and the forms
(``booking.commands``: the person's rate limit, the input serializer, the service); see
docs/live-protocol.md.

``TripConsumer`` (``/ws/trips/<id>/``): members only; a snapshot (or the missed events)
on connect, every change as an event with the trip's version, presence, heartbeats.
``DepartureConsumer`` (``/ws/departures/<id>/``): anyone; seat availability only.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from channels.consumer import get_handler_name
from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections, connections
from django.http.cookie import parse_cookie
from django.utils import translation
from django.utils.translation import gettext as _

from booking import live, plan_selectors, presence
from booking.commands import command_outcome, command_run
from booking.models import Departure
from booking.plan_serializers import WatchDepartureSerializer
from core.api_errors import invalid_input
from core.errors import DomainError
from core.json_input import json_loads_bounded
from core.websocket_auth import SessionEnded, session_check

logger = logging.getLogger(__name__)


def database_sync_to_async(func):
    """Channels' wrapper (old connections closed around each call) on a pool of threads,
    not the one thread it uses by default: each socket's database work is independent
    (the trip row lock orders the writes of one trip), and on one thread every member of
    every trip of the process would wait behind everyone else's query. The pool is the
    live plan's own (``LIVE_DB_THREADS``), not asgiref's default executor (as few as five
    threads on a small machine): commands waiting for one busy trip, each for at most the
    lock timeout (core/locking.py), leave threads for every other trip. SQLite takes one
    writer at a time anyway (and its shared in-memory test database refuses concurrent
    writers rather than waiting): there, the one thread."""
    if _SINGLE_WRITER:
        return DatabaseSyncToAsync(func, thread_sensitive=True)
    return _PooledSyncToAsync(func, thread_sensitive=False, executor=_EXECUTOR)


class _PooledSyncToAsync(DatabaseSyncToAsync):
    """After each call, a thread of the live plan's pool closes its old connections itself
    (with the driver's pool and ``CONN_MAX_AGE = 0``: gives its connection back), as
    channels' wrapper does, but not through ``channels.db.close_old_connections``, which
    channels' test communicator turns into a no-op (for the test's own transaction, which
    these threads never share). Otherwise every one of the ``LIVE_DB_THREADS`` threads a
    test used kept a connection checked out of the pool until the process ended."""

    def thread_handler(self, loop, *args, **kwargs):
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()


_SINGLE_WRITER = connections["default"].vendor == "sqlite"
_EXECUTOR = (
    None
    if _SINGLE_WRITER
    else ThreadPoolExecutor(
        max_workers=settings.SIDEBYSIDE["LIVE_DB_THREADS"], thread_name_prefix="live-db"
    )
)


# Close codes (4000-4999 are the application's).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_MEMBER = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_ABUSIVE = 4429

MAX_MESSAGE_BYTES = 4096
# Two limits. Commands of the plan count against the person's limit, whatever the door
# (``booking.commands``, ``SIDEBYSIDE["RATE_PLAN"]``: reconnecting does not reset it).
# Every frame (pings, snapshots, junk) also takes a token of this connection's bucket:
# RATE_PER_SECOND sustained, RATE_BURST at once. Past either a frame is refused with
# ``rate_limited``; ``ABUSE_STRIKES`` such refusals in a row (no command accepted between
# them) close the connection.
RATE_PER_SECOND = 5.0
RATE_BURST = 20
ABUSE_STRIKES = 50


def scope_language(scope) -> str:
    """The language of a websocket's handshake, chosen as Django chooses a page's: the
    language cookie, else Accept-Language, else ``LANGUAGE_CODE``."""
    headers = {
        key.decode("latin-1").lower(): value.decode("latin-1")
        for key, value in scope.get("headers", ())
    }
    cookies = scope.get("cookies")
    if cookies is None:
        cookies = parse_cookie(headers.get("cookie", ""))
    request = SimpleNamespace(
        COOKIES=cookies, META={"HTTP_ACCEPT_LANGUAGE": headers.get("accept-language", "")}
    )
    return translation.get_language_from_request(request)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Channels (4.2+) closes old database connections before every message it hands to a
    consumer, by a hop onto the process's one thread for sync code: for the live plan,
    every event delivered to every member's socket queued behind every other on that one
    thread (the main cost of a pick at a few dozen picks per second, bench/live_fanout.py).
    These consumers never touch the database on the event loop: all their database work
    goes through ``database_sync_to_async`` above, which closes old connections around each
    call in the thread that used them. So messages are dispatched straight to their
    handler."""

    socket_closed = False
    language = ""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        # Every answer in the person's language, as their pages: the handshake's language
        # cookie, else its Accept-Language (what LocaleMiddleware reads for a page).
        with translation.override(self.language or settings.LANGUAGE_CODE):
            await handler(message)

    async def __call__(self, scope, receive, send):
        self.language = scope_language(scope)

        async def send_unless_closed(message):
            # A socket can close while a broadcast is on its way to it (the server then
            # raises, e.g. Daphne's "Attempt to send on a closed protocol"). That must not
            # end this consumer: its ``websocket.disconnect`` still comes, and the cleanup
            # (groups, presence) runs then. Nothing is sent after a close.
            if self.socket_closed:
                return
            if message["type"] == "websocket.close":
                self.socket_closed = True
            try:
                await send(message)
            except Exception as exc:  # the server's own "closed" error, whichever it is
                self.socket_closed = True
                logger.debug("socket %s closed while sending: %r", self.channel_name, exc)

        return await super().__call__(scope, receive, send_unless_closed)


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
        self.covered_version = 0
        self.session_checked_at = time.monotonic()  # the handshake has just resolved it
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Join the trip's group before reading: an event committed after the read is then
        # queued for this socket (group messages are handled once connect returns), and
        # one the read already covers is dropped by its version (``trip_event``). Read
        # first and join after, and an event committed in between reached nobody here.
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        try:
            first = await self._first_message()
        except DomainError as exc:
            # Not a member: leave the group before a single event of it is handled
            # (``joined`` is still False, so ``trip_event`` drops what was queued).
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
            code = CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_NOT_MEMBER
            await self.send_json({"type": "error", **exc.as_dict()})
            await self.close(code=code)
            return
        self.covered_version = first["version"]
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
        return presence.presence_join(
            trip_id=self.trip_id, user=self.user, channel_name=self.channel_name
        )

    @database_sync_to_async
    def _presence_leave(self) -> list[int]:
        return presence.presence_leave(trip_id=self.trip_id, channel_name=self.channel_name)

    @database_sync_to_async
    def _presence_touch(self) -> int | None:
        """Mark this connection alive; the trip's current version, for the ``pong``.
        The session is checked on every heartbeat."""
        self._session_check(always=True)
        presence.presence_touch(channel_name=self.channel_name)
        return plan_selectors.trip_version(trip_id=self.trip_id)

    async def disconnect(self, code):
        if not getattr(self, "joined", False):
            return
        self.joined = False
        # The presence row goes whatever happens to the channel layer on the way.
        try:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
            for departure_id in self.departures:
                await self.channel_layer.group_discard(
                    live.departure_group(departure_id), self.channel_name
                )
        finally:
            online = await self._presence_leave()
        await self.channel_layer.group_send(self.group_name, live.presence_message(online))

    # --- Client → server ---------------------------------------------------------------

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.refilled_at) * RATE_PER_SECOND)
        self.refilled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def _rate_limited(self, error: dict) -> None:
        """Answer a frame refused by a rate limit, or close an abusive connection."""
        self.strikes += 1
        if self.strikes >= ABUSE_STRIKES:
            await self.close(code=CLOSE_ABUSIVE)
            return
        await self.send_json(error)

    async def receive(self, text_data=None, bytes_data=None):
        if not self.joined:
            return
        # Every frame counts towards the connection's bucket, the refused ones too.
        if not self._take_token():
            await self._rate_limited(
                {
                    "type": "error",
                    "id": None,
                    "code": "rate_limited",
                    "message": str(_("Too many messages. Slow down a little.")),
                }
            )
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
            # The version lets a client that missed an event catch up within a heartbeat,
            # even when the event's broadcast never left (its process died after commit).
            try:
                version = await self._presence_touch()
            except SessionEnded as exc:
                await self.send_json({"type": "error", "id": request_id, **exc.as_dict()})
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            await self.send_json({"type": "pong", "id": request_id, "version": version})
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
        if error is not None and error["code"] == "rate_limited":
            await self._rate_limited(error)
            return
        self.strikes = 0
        if error is not None:
            await self.send_json(error)
            if error["code"] == SessionEnded.code:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        ack = {"type": "ack", "id": request_id, "version": event.version if event else None}
        outcome = command_outcome(event)
        if outcome:
            ack["message"] = outcome  # what happened, when it is not what was asked
        await self.send_json(ack)

    def _session_check(self, *, always: bool = False) -> None:
        """Not for someone who has logged out since the handshake: the session is read
        again on every heartbeat and snapshot, and before a command when the last check
        is older than ``SIDEBYSIDE["LIVE_SESSION_RECHECK_SECONDS"]`` (a read and a decode
        per command was a large part of a seat pick's cost; bench/RESULTS.md)."""
        now = time.monotonic()
        bound = settings.SIDEBYSIDE["LIVE_SESSION_RECHECK_SECONDS"]
        if always or now - self.session_checked_at >= bound:
            session_check(self.scope)
            self.session_checked_at = now

    @database_sync_to_async
    def _command(self, content: dict):
        self._session_check()
        return command_run(content.get("type"), trip_id=self.trip_id, user=self.user, data=content)

    @database_sync_to_async
    def _snapshot(self) -> dict:
        self._session_check(always=True)
        return plan_selectors.plan_snapshot(user=self.user, trip_id=self.trip_id)

    async def _reply_snapshot(self, request_id):
        try:
            snapshot = await self._snapshot()
        except DomainError as exc:
            await self.send_json({"type": "error", "id": request_id, **exc.as_dict()})
            if isinstance(exc, SessionEnded):
                await self.close(code=CLOSE_UNAUTHENTICATED)
            else:
                await self.close(code=CLOSE_NOT_FOUND if exc.status == 404 else CLOSE_NOT_MEMBER)
            return
        await self.send_json({**snapshot, "id": request_id})

    async def _watch_departure(self, request_id, departure_id):
        watch = WatchDepartureSerializer(data={"departure_id": departure_id})
        if not watch.is_valid():
            error = invalid_input(watch.errors)
            await self.send_json({"type": "error", "id": request_id, **error.as_dict()})
            return
        departure_id = watch.validated_data["departure_id"]
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
        if not self.joined:
            return  # refused at connect: queued before the socket left the group
        version = message.get("version")
        if version is not None and version <= self.covered_version:
            return  # the first frame (snapshot or resync) already has it
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
