import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

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


def jobs_run_due(
    *,
    last_run: dict[str, float],
    now: float | None = None,
    asked: Iterable[str] = (),
    asked_meanwhile: Callable[[], set[str]] | None = None,
) -> dict[str, int]:
    """Run every registered job whose interval has passed. A failing job is logged and
    does not stop the others; it is tried again on its next turn.

    The jobs ``asked`` for (a wake, ``jobs.wake``) run first, whatever their interval.
    ``asked_meanwhile`` (the worker's listener, not waiting) is looked at after each job:
    a job asked for during the round runs next rather than after every other due job
    (a queued booking confirmation does not wait behind a pass of e-mails), at most
    once more per round."""
    now = time.monotonic() if now is None else now
    asked = set(asked)
    by_name = {job.name: job for job in jobs.registered()}
    queue = deque(job for job in by_name.values() if job.name in asked)
    queue.extend(job for job in by_name.values() if job.name not in asked)
    for name in asked:
        last_run.pop(name, None)
    handled: dict[str, int] = {}
    again: set[str] = set()
    while queue:
        job = queue.popleft()
        if now - last_run.get(job.name, float("-inf")) < job.every_seconds:
            continue
        last_run[job.name] = now
        try:
            count = job.func()
        except Exception:
            logger.exception("job %s failed", job.name)
            count = -1
        before = handled.get(job.name, 0)
        handled[job.name] = before + count if min(before, count) >= 0 else -1
        for name in sorted(asked_meanwhile() if asked_meanwhile else ()):
            if name in by_name and name not in again:
                again.add(name)
                last_run.pop(name, None)
                if by_name[name] in queue:
                    queue.remove(by_name[name])
                queue.appendleft(by_name[name])
    return handled
