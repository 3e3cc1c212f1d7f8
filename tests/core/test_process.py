"""core.process: the server process's start-up objects are out of the collector's reach."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_asgi_application_freezes_what_start_up_made():
    # A process of its own: freezing is for good, the test run's own objects stay out of it.
    code = (
        "import gc; before = gc.get_freeze_count(); import asgi; "
        "print(before, gc.get_freeze_count(), len(gc.get_objects()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    before, frozen, tracked = (int(x) for x in out.stdout.split())
    # Django, DRF, Channels and the apps: far more frozen than left for the collector.
    assert frozen - before > 50_000
    assert tracked < frozen
