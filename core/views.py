import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.models import WorkerHeartbeat


def _database_ok() -> tuple[bool, float | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    beat = WorkerHeartbeat.objects.order_by("-last_seen_at").values("last_seen_at").first()
    seen = (timezone.now() - beat["last_seen_at"]).total_seconds() if beat else None
    return True, seen


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "healthz.ping", "token": token})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    return message.get("token") == token


@never_cache
@require_safe
async def healthz(request):
    """Liveness and readiness for a load balancer: 200 when the database answers and a
    message makes a round trip through the channel layer, 503 otherwise."""
    checks: dict[str, object] = {}
    healthy = True
    try:
        _, worker_seen = await sync_to_async(_database_ok, thread_sensitive=True)()
        checks["database"] = "ok"
        checks["worker_last_seen_seconds"] = (
            round(worker_seen, 1) if worker_seen is not None else None
        )
    except Exception as exc:  # any failure is a failed check, reported not raised
        healthy = False
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        checks["channel_layer"] = "ok" if await _channel_layer_ok() else "error: wrong reply"
    except Exception as exc:
        checks["channel_layer"] = f"error: {exc.__class__.__name__}"
    healthy = healthy and checks["channel_layer"] == "ok"
    checks["status"] = "ok" if healthy else "error"
    return JsonResponse(checks, status=200 if healthy else 503)
