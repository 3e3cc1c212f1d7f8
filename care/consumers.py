"""Care's websocket doors (docs/care.md). Thin: they authenticate, check access through
``care.selectors``, run a post through ``care.commands`` (the same as the form's) and
relay the frames ``care.live`` broadcasts after commit.

``CaseConsumer`` (``/ws/care/cases/<id>/``; ``?as=staff`` for an agent): the case's
people or the care team; the conversation on connect, every new message and state after.
``InboxConsumer`` (``/ws/care/inbox/``): the care team only; new and changed cases.
"""

import logging
import time

from django.utils.translation import gettext as _

from booking.consumers import (
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    LiveConsumer,
    database_sync_to_async,
)
from care import commands, live, selectors, services
from core.errors import DomainError
from core.json_input import json_loads_bounded
from core.websocket_auth import SessionEnded, session_check

logger = logging.getLogger(__name__)

# A message is at most 2,000 characters; its frame, JSON-escaped, stays well inside this.
MAX_FRAME_BYTES = 16_384
# The page pings every 25 s; a socket that pings faster is answered without a query.
TOUCH_EVERY_SECONDS = 10.0


def _query_as_staff(scope) -> bool:
    query = scope.get("query_string", b"").decode("ascii", "replace")
    return "as=staff" in query.split("&")


class CaseConsumer(LiveConsumer):
    async def connect(self):
        self.case_id = int(self.scope["url_route"]["kwargs"]["case_id"])
        self.user = self.scope.get("user")
        self.as_staff = _query_as_staff(self.scope)
        self.joined = False
        self.touched_at = time.monotonic()
        self.group_name = live.case_group(self.case_id)
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Join before reading: a message committed after the read then reaches this
        # socket (the client drops one it already has, by id).
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        try:
            first = await self._first_frame()
        except DomainError as exc:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
            await self.send_json({"type": "error", **exc.as_dict()})
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.joined = True
        await self.send_json(first)

    @database_sync_to_async
    def _first_frame(self) -> dict:
        if self.as_staff:
            case = selectors.case_for_staff(user=self.user, case_id=self.case_id)
        else:
            case = selectors.case_for_person(user=self.user, case_id=self.case_id)
            services.watcher_join(case_id=case.pk, user=self.user, channel_name=self.channel_name)
        return {
            "type": "conversation",
            "case": selectors.case_dict(case),
            "messages": [
                selectors.message_dict(m) for m in selectors.case_messages(case_id=case.pk)
            ],
        }

    @database_sync_to_async
    def _leave(self) -> None:
        services.watcher_leave(channel_name=self.channel_name)

    @database_sync_to_async
    def _touch(self) -> None:
        session_check(self.scope)
        if not self.as_staff:
            services.watcher_touch(channel_name=self.channel_name)

    @database_sync_to_async
    def _post(self, content: dict):
        session_check(self.scope)
        return commands.message_post_run(
            user=self.user, case_id=self.case_id, data=content, as_staff=self.as_staff
        )

    async def disconnect(self, code):
        if not getattr(self, "joined", False):
            return
        self.joined = False
        try:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
        finally:
            if not self.as_staff:
                await self._leave()

    async def receive(self, text_data=None, bytes_data=None):
        if not self.joined:
            return
        if text_data is None or len(text_data.encode("utf-8", "replace")) > MAX_FRAME_BYTES:
            await self._error(None, "message_too_large", _("That message is too large."))
            return
        try:
            content = json_loads_bounded(text_data)
        except ValueError:
            await self._error(None, "malformed", _("That message is not valid JSON."))
            return
        if not isinstance(content, dict):
            await self._error(None, "malformed", _("A command is a JSON object."))
            return
        request_id = content.get("id")
        if not isinstance(request_id, (int, str)) or len(str(request_id)) > 64:
            request_id = None
        kind = content.get("type")
        try:
            if kind == "ping":
                if time.monotonic() - self.touched_at >= TOUCH_EVERY_SECONDS:
                    self.touched_at = time.monotonic()
                    await self._touch()
                await self.send_json({"type": "pong", "id": request_id})
            elif kind == "post":
                message = await self._post({"body": content.get("body")})
                await self.send_json({"type": "ack", "id": request_id, "message_id": message.pk})
            else:
                await self._error(request_id, "unknown_command", _("Unknown command."))
        except DomainError as exc:
            await self.send_json({"type": "error", "id": request_id, **exc.as_dict()})
            if isinstance(exc, SessionEnded):
                await self.close(code=CLOSE_UNAUTHENTICATED)
        except Exception:
            logger.exception("care command %r on case %s failed", kind, self.case_id)
            await self._error(request_id, "server_error", _("Something went wrong. Try again."))

    async def _error(self, request_id, code: str, message: str):
        await self.send_json(
            {"type": "error", "id": request_id, "code": code, "message": str(message)}
        )

    async def care_frame(self, message):
        if self.joined:
            await self.send(text_data=message["text"])


class InboxConsumer(LiveConsumer):
    """The care team's inbox: told of every new case and every change, live."""

    async def connect(self):
        self.user = self.scope.get("user")
        self.joined = False
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        allowed = await database_sync_to_async(selectors.is_care_staff)(self.user)
        if not allowed:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.channel_layer.group_add(live.STAFF_GROUP, self.channel_name)
        self.joined = True
        await self.send_json({"type": "ready"})

    async def disconnect(self, code):
        if getattr(self, "joined", False):
            self.joined = False
            await self.channel_layer.group_discard(live.STAFF_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if not self.joined or text_data is None or len(text_data) > 256:
            return
        try:
            content = json_loads_bounded(text_data)
        except ValueError:
            return
        if isinstance(content, dict) and content.get("type") == "ping":
            try:
                await database_sync_to_async(session_check)(self.scope)
            except SessionEnded:
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
            await self.send_json({"type": "pong", "id": None})

    async def care_frame(self, message):
        if self.joined:
            await self.send(text_data=message["text"])
