from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per running worker process, touched on every loop; ``/healthz`` reports
    how long ago a worker was last seen (the worker owns no other state)."""

    name = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    loops = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.name
