"""The floor of the live benchmarks: a bare Channels consumer that only broadcasts.

A client connected to ``/bench/ws/floor/<group>/`` joins channel-layer group
``bench-floor.<group>``; every JSON message it sends is broadcast as it is to every socket
of that group (itself included). No session, no database, no validation: the same Daphne,
the same channel layer (Redis) and the same fan-out as a trip's event, and nothing else,
so ``live p99 / floor p99`` in one run is what the plan's own work adds.

Served only by ``bench.asgi_live`` (a benchmark server); never routed by the app.
"""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class FloorConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group_name = f"bench-floor.{int(self.scope['url_route']['kwargs']['group'])}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.channel_layer.group_send(
            self.group_name, {"type": "floor.message", "content": content}
        )

    async def floor_message(self, message):
        await self.send_json(message["content"])
