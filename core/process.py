"""Tuning of a long-running server process (Daphne), done once its application is built.

**The collector's full passes.** CPython's cyclic garbage collector walks every object of
the oldest generation on a full collection, holding the interpreter: for a Daphne process
that is a stall of every socket and request it serves. About 130,000 of the objects it
tracks are made while starting (Django, DRF, Channels, the apps' modules, URL patterns,
templates, translations) and live as long as the process. ``gc.freeze()`` moves what
exists at the end of start-up out of the collector's generations for good: later
collections only walk what was made since. Measured with ``gc.callbacks`` in the server of
``bench/live_fanout.py --quick``: full collections 650 ms in all, the longest 257 ms,
before; 410-460 ms in all, the longest 134-159 ms, after (docs/architecture.md). Nothing
is leaked: frozen objects are still freed by reference counting; only cycles among them
would never be collected, and start-up objects are not garbage.
"""

import gc


def freeze_startup_objects() -> None:
    """Call once, at the end of an ASGI module's import (its ``application`` built)."""
    # Collect first: what start-up left as garbage cycles is freed, not frozen.
    gc.collect()
    gc.freeze()
