"""Tuning of a long-running server process (Daphne), done once its application is built.

**Why.** CPython's cyclic garbage collector walks every object of the oldest generation
on a full pass, holding the interpreter: for a Daphne process that is a stall of every
socket and request it serves. In a process holding 1,600 live-plan sockets a full pass
walked 170,000-280,000 objects and took 120-500 ms; one came every 6-10 s at 100 picks/s
(objects that outlive two young passes, such as a pick's in-flight state, are promoted,
and a full pass starts once a quarter as many have been promoted as the old generation
holds), and it almost never found garbage: what it walks is the process's start-up
(Django, DRF, Channels, URL patterns, translations: about 130,000 objects) and the
sockets' own state, alive as long as their sockets.

**What.** ``tune_collector()``, called at the end of ``asgi.py``:

1. start-up objects are collected once, then frozen (``gc.freeze()``): no later pass
   walks them;
2. after every full pass, what survived it is frozen too (``CollectorPolicy``): an object
   is walked by at most one full pass once it has become old, so a full pass walks only
   what became old since the last one, not the whole process;
3. **reclaim**: cycles of objects that were frozen alive and died later (a closed socket's
   protocol and consumer refer to each other) are not collected while frozen. So every
   ``reclaim_seconds`` (default 600), or as soon as the frozen objects have grown to
   ``reclaim_growth`` times what they were after the last reclaim (default 2), they are
   handed back (``gc.unfreeze()``) and the next full pass walks and collects everything,
   then freezes the survivors again. The memory such cycles hold waits that long at
   most; the whole-process stall comes once per reclaim instead of every few seconds.

Frozen objects are still freed by reference counting as soon as nothing refers to them;
only garbage *cycles* among them wait for the reclaim. ``SERVER_GC_FREEZE_SURVIVORS=0``
keeps step 1 only. Measured in docs/architecture.md ("What one Daphne process needs")
and bench/RESULTS.md.
"""

import gc
import time
from collections.abc import Callable

DEFAULT_RECLAIM_SECONDS = 600.0
DEFAULT_RECLAIM_GROWTH = 2.0


def freeze_startup_objects() -> None:
    """Collect what start-up left as garbage cycles, then freeze the rest for good."""
    gc.collect()
    gc.freeze()


class CollectorPolicy:
    """Freezes the survivors of each full pass; hands everything back for a reclaim pass
    every ``reclaim_seconds`` or once the frozen objects have grown ``reclaim_growth``
    times. Runs as a ``gc.callbacks`` entry: no thread, no timer, nothing to stop."""

    def __init__(
        self,
        *,
        reclaim_seconds: float = DEFAULT_RECLAIM_SECONDS,
        reclaim_growth: float = DEFAULT_RECLAIM_GROWTH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if reclaim_seconds <= 0 or reclaim_growth <= 1:
            raise ValueError("reclaim_seconds > 0 and reclaim_growth > 1")
        self.reclaim_seconds = reclaim_seconds
        self.reclaim_growth = reclaim_growth
        self._clock = clock
        self._reclaiming = False
        self._last_reclaim = clock()
        self._frozen_after_reclaim = gc.get_freeze_count()
        # An upper bound of the frozen objects' count, kept without walking them:
        # ``gc.get_freeze_count()`` walks the whole frozen list (hundreds of thousands of
        # objects), and calling it after every full pass, which come often once the old
        # generation is kept small, was 14 % of a live Daphne's samples (bench/RESULTS.md,
        # session 8). Objects only become frozen here, and frozen ones freed by reference
        # counting only lower the true count; the exact count is read when the bound says
        # the growth may be reached.
        self._frozen_at_most = self._frozen_after_reclaim
        self.full_passes = 0
        self.reclaims = 0

    def install(self) -> "CollectorPolicy":
        if self._on_collection not in gc.callbacks:
            gc.callbacks.append(self._on_collection)
        return self

    def _reclaim_due(self) -> bool:
        if self._clock() - self._last_reclaim >= self.reclaim_seconds:
            return True
        threshold = self._frozen_after_reclaim * self.reclaim_growth
        if self._frozen_at_most < threshold:
            return False
        self._frozen_at_most = gc.get_freeze_count()
        return self._frozen_at_most >= threshold

    def _on_collection(self, phase: str, info: dict) -> None:
        # Called by the collector around every pass, in the thread that runs it (one pass
        # at a time in a process: no lock needed). Only the end of a full pass matters:
        # the young generations are then empty and the old one holds what survived it.
        if phase != "stop" or info.get("generation") != 2:
            return
        self.full_passes += 1
        if self._reclaiming:
            # This pass walked everything, frozen objects included: start again.
            self._reclaiming = False
            self.reclaims += 1
            gc.freeze()
            self._last_reclaim = self._clock()
            self._frozen_after_reclaim = self._frozen_at_most = gc.get_freeze_count()
            return
        # After a full pass the young generations are empty: the old one holds exactly
        # what is about to be frozen (few objects: the rest were frozen before).
        self._frozen_at_most += len(gc.get_objects(generation=2))
        gc.freeze()
        if self._reclaim_due():
            # The next full pass (soon: the old generation this one left is small) walks
            # the frozen objects too and collects the cycles that died there.
            gc.unfreeze()
            self._reclaiming = True


_installed: CollectorPolicy | None = None
_startup_frozen = False


def tune_collector(
    *,
    freeze_survivors: bool | None = None,
    reclaim_seconds: float | None = None,
    reclaim_growth: float = DEFAULT_RECLAIM_GROWTH,
) -> CollectorPolicy | None:
    """Call once, at the end of an ASGI module's import (its ``application`` built).
    Idempotent: a second call returns the policy already installed. Without
    ``freeze_survivors`` only the start-up objects are frozen (no policy). Unset, the
    two come from ``SERVER_GC_FREEZE_SURVIVORS`` and ``SERVER_GC_RECLAIM_SECONDS``."""
    from django.conf import settings

    if freeze_survivors is None:
        freeze_survivors = settings.SERVER_GC_FREEZE_SURVIVORS
    if reclaim_seconds is None:
        reclaim_seconds = settings.SERVER_GC_RECLAIM_SECONDS
    global _installed, _startup_frozen
    if not _startup_frozen:
        freeze_startup_objects()
        _startup_frozen = True
    if _installed is None and freeze_survivors:
        _installed = CollectorPolicy(
            reclaim_seconds=reclaim_seconds, reclaim_growth=reclaim_growth
        ).install()
    return _installed
