"""A tiny registry of periodic jobs that the worker runs.

Apps register their jobs in ``AppConfig.ready()`` (``jobs.register(...)``), so the worker
knows no app by name and the import direction stays clean. A job must be idempotent and
safe to run in several workers at once: it picks due rows with
``select_for_update(skip_locked=True)`` (PostgreSQL) inside a transaction, so two workers
never handle the same row, and re-running it after a crash finds nothing left to do.
A job returns how many items it handled.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], int]
    every_seconds: float


_registry: dict[str, Job] = {}


def register(name: str, func: Callable[[], int], *, every_seconds: float) -> None:
    _registry[name] = Job(name=name, func=func, every_seconds=every_seconds)


def registered() -> list[Job]:
    return sorted(_registry.values(), key=lambda job: job.name)
