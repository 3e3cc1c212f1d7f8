"""Live frames of care conversations, on the same channel layer as the live plan.

Two groups: ``care.case.<id>`` (the sockets of one conversation: its travellers and the
agents who have it open) and ``care.staff`` (every agent's inbox: new cases, changes).
A frame leaves only once the transaction that made the change has committed."""

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

STAFF_GROUP = "care.staff"


def case_group(case_id: int) -> str:
    return f"care.case.{case_id}"


def group_message(content: dict) -> dict:
    """The channel-layer message of a frame: its text, made once for every socket."""
    return {"type": "care.frame", "text": json.dumps(content)}


def _send(group: str, message: dict) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, message)
    except Exception:  # best effort: a page reloads the conversation on reconnect
        logger.exception("care broadcast to %s failed", group)


def after_commit(group: str, content: dict) -> None:
    message = group_message(content)  # serialised now, from values of this transaction
    transaction.on_commit(lambda: _send(group, message))
