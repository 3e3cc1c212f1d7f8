"""The message kinds, registered by the apps that own them (``AppConfig.ready``), as
``core.jobs`` registers jobs: the outbox renders and sends a message without knowing the
app it came from.

A kind's ``render(message)`` runs in the worker, inside ``translation.override`` of the
message's language, and returns the ``Email`` to send, or ``None`` when there is nothing
to send any more (the object is gone): the message is then dropped. ``essential`` kinds
(payments, tickets, refunds) are sent whatever the person's preferences.

The recipients' languages come from the app that owns people (``groups`` registers
``languages_register``): ``notices`` sits below it and cannot read profiles itself.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str = ""
    # (file name, content, MIME type): e.g. a calendar invitation.
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)
    # (content id, content, MIME type): images the HTML shows as ``cid:<content id>``.
    inline_images: list[tuple[str, bytes, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    name: str
    object_type: str
    render: Callable
    essential: bool


_kinds: dict[str, Kind] = {}
_languages: list[Callable[[list[int]], dict[int, str]]] = []


def register(name: str, *, object_type: str, render: Callable, essential: bool = True) -> None:
    _kinds[name] = Kind(name=name, object_type=object_type, render=render, essential=essential)


def kind_get(name: str) -> Kind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"no message kind {name!r} is registered") from None


def registered() -> list[Kind]:
    return sorted(_kinds.values(), key=lambda kind: kind.name)


def languages_register(func: Callable[[list[int]], dict[int, str]]) -> None:
    """``func(user_ids)`` answers each person's language code (missing: the site's)."""
    _languages[:] = [func]


def languages_of(user_ids: Iterable[int]) -> dict[int, str]:
    ids = list(user_ids)
    return _languages[0](ids) if _languages else {}
