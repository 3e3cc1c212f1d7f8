"""The app's own settings with one change: the root URLconf is ``bench.floor_urls``, which
serves every URL of ``config.urls`` plus the floor view ``/bench/floor/``.

Selected by ``bench/asgi_bench.py`` (the module Daphne serves in a benchmark) through
``DJANGO_SETTINGS_MODULE``, the usual Django way of overriding a setting for one process:
nothing is changed at run time and the app's code is untouched. Everything else, database
and Redis included, still comes from the environment, read by ``config.settings``."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
