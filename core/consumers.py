"""Websocket consumers that belong to no app."""

from channels.generic.websocket import AsyncWebsocketConsumer


class NoRouteConsumer(AsyncWebsocketConsumer):
    """The last websocket route: a path no app serves. Channels' router would raise
    ("No route found for path"), which the server logs as a crash and answers with a 500;
    this refuses the handshake instead (the client sees 403, as for a refused origin)."""

    async def connect(self):
        await self.close()
