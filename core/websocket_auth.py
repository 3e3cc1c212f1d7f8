"""The session and the user of a websocket, resolved once at the handshake.

Channels' ``AuthMiddlewareStack`` wraps every message a socket sends with its session
middleware's ``send``, which saves the session and sets its cookie on an
``http.response.start``. A websocket never sends one: for a socket the wrapper only reads
the lazy session's state on every frame, and the live plan sends many (nine per seat
pick: each member's event and the sender's ack; bench/live_fanout.py). Our websocket
consumers never change the session (login and logout are HTTP pages), so this stack
resolves the session and the user as Channels does and hands the socket's frames straight
to the server. ``session_check`` reads the session again later, so that a socket stops
acting for someone who has logged out since the handshake.
"""

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class WebsocketSessionMiddleware:
    """Channels' ``SessionMiddleware`` (the session in ``scope["session"]``, from the
    cookie) without its wrapper around ``send``. Requires ``CookieMiddleware`` above it."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def websocket_auth_stack(inner):
    """``scope["cookies"]``, ``scope["session"]`` and ``scope["user"]`` for ``inner``."""
    return CookieMiddleware(WebsocketSessionMiddleware(AuthMiddleware(inner)))


class SessionEnded(DomainError):
    """The socket's session no longer stands for its user: logged out (the session was
    flushed or has expired) or logged in again as someone else."""

    code = "not_authenticated"
    status = 401
    default_message = _("You are logged out. Log in again to keep planning.")


def session_check(scope) -> None:
    """Raise ``SessionEnded`` unless the session the socket was opened with still exists
    and still holds its user, with the same password hash (one query).

    A socket resolves its user once, at the handshake; a door calls this before acting for
    that user again, so that an open socket stops acting for someone who has logged out
    since. A scope without a session (a consumer reached without this stack, as tests do)
    has nothing to re-check."""
    session, user = scope.get("session"), scope.get("user")
    if session is None:
        return
    if user is None or not user.is_authenticated or not session.session_key:
        raise SessionEnded()
    # Read again, not the handshake's copy (``__class__``: the scope holds a lazy proxy).
    current = session.__class__(session.session_key)
    stored_hash = current.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if current.get(SESSION_KEY) != str(user.pk) or not any(
        constant_time_compare(stored_hash, known) for known in hashes
    ):
        raise SessionEnded()
