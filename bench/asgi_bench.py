"""The ASGI application of a benchmark server: the app's own ``asgi.application`` built
with ``bench.settings`` (the app's settings, root URLconf ``bench.floor_urls``).

``python -m daphne -b 127.0.0.1 -p PORT bench.asgi_bench:application`` from the
repository root; ``bench/harness.py`` does this."""

import os

# Set, not setdefault: this module exists to select these settings.
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

from asgi import application

__all__ = ["application"]
