"""The message kinds, registered by the apps that own them (``AppConfig.ready``), as
``core.jobs`` registers jobs: the outbox renders and sends a message without knowing the
app it came from.

A kind's ``render(message)`` runs in the worker, inside ``translation.override`` of the
message's language, and returns the ``Email`` to send, or ``None`` when there is nothing
to send any more (the object is gone): the message is then dropped. A kind that also
reaches people by Web Push registers a ``push(message)`` renderer too, returning a
``Push`` (title, body, the page to open) or ``None``; a kind with no e-mail (``render``
None) is pushed only. ``essential`` kinds
(payments, tickets, refunds) are sent whatever the person's preferences.

The recipients' languages come from the app that owns people (``groups`` registers
``languages_register``), and who is on a trip's live page right now from the app that
owns the live plan (``booking`` registers ``online_register``): ``notices`` sits below
them and cannot read profiles or presence itself.
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
class Push:
    """A notification: short (a lock screen shows about two lines), in the recipient's
    language, opening ``url`` (a page of ours, absolute) when tapped."""

    title: str
    body: str
    url: str


@dataclass(frozen=True)
class Kind:
    name: str
    object_type: str
    render: Callable | None
    essential: bool
    push: Callable | None = None

    def channels(self) -> list[str]:
        return [
            channel
            for channel, renderer in (("email", self.render), ("push", self.push))
            if renderer is not None
        ]


_kinds: dict[str, Kind] = {}
_languages: list[Callable[[list[int]], dict[int, str]]] = []
_online: list[Callable[[int], Iterable[int]]] = []


def register(
    name: str,
    *,
    object_type: str,
    render: Callable | None,
    essential: bool = True,
    push: Callable | None = None,
) -> None:
    if render is None and push is None:
        raise ValueError(f"the message kind {name!r} has no renderer")
    _kinds[name] = Kind(
        name=name, object_type=object_type, render=render, essential=essential, push=push
    )


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


def online_register(func: Callable[[int], Iterable[int]]) -> None:
    """``func(trip_id)`` answers who is on that trip's live page right now: they see the
    news there, and are not pushed."""
    _online[:] = [func]


def online_on_trip(trip_id: int | None) -> set[int]:
    if trip_id is None or not _online:
        return set()
    return set(_online[0](trip_id))
