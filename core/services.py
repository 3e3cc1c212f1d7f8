import logging
import time

from django.db import transaction
from django.utils import timezone

from core import jobs
from core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def worker_heartbeat(*, name: str, started_at) -> None:
    now = timezone.now()
    with transaction.atomic():
        beat, created = WorkerHeartbeat.objects.get_or_create(
            name=name, defaults={"started_at": started_at, "last_seen_at": now, "loops": 1}
        )
        if not created:
            WorkerHeartbeat.objects.filter(pk=beat.pk).update(
                last_seen_at=now, loops=beat.loops + 1, started_at=started_at
            )


def jobs_run_due(*, last_run: dict[str, float], now: float | None = None) -> dict[str, int]:
    """Run every registered job whose interval has passed. A failing job is logged and
    does not stop the others; it is tried again on its next turn."""
    now = time.monotonic() if now is None else now
    handled: dict[str, int] = {}
    for job in jobs.registered():
        if now - last_run.get(job.name, float("-inf")) < job.every_seconds:
            continue
        last_run[job.name] = now
        try:
            handled[job.name] = job.func()
        except Exception:
            logger.exception("job %s failed", job.name)
            handled[job.name] = -1
    return handled
