"""The session and the user of a websocket, resolved once at the handshake.

Channels' ``AuthMiddlewareStack`` wraps every message a socket sends with its session
middleware's ``send``, which saves the session and sets its cookie on an
``http.response.start``. A websocket never sends one: for a socket the wrapper only reads
the lazy session's state on every frame, and the live plan sends many (nine per seat
pick: each member's event and the sender's ack; bench/live_fanout.py). Our websocket
consumers never change the session (login and logout are HTTP pages), so this stack
resolves the session and the user as Channels does and hands the socket's frames straight
to the server.
"""

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper


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
