"""How many SQL queries and how long one request to each path costs, in process, through
the full middleware stack (Django's test client). Run by a benchmark with the server's
environment, after its load: ``python bench/query_count.py PATH...`` prints one JSON line,
``{path: {"status", "queries", "sql_ms", "request_ms", "bytes", "sql"}}``: ``sql_ms`` is
the time spent in the database driver (timed here, as Django's own record keeps whole
milliseconds), ``request_ms`` the whole request. The first request of each path is a
warm-up and not counted."""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


class SqlTimer:
    def __init__(self):
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t0


def measure(paths: list[str]) -> dict:
    client = Client(headers={"accept": "application/json"})
    out = {}
    for path in paths:
        client.get(path, HTTP_HOST="127.0.0.1")  # warm-up
        timer = SqlTimer()
        with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(timer):
            t0 = time.perf_counter()
            response = client.get(path, HTTP_HOST="127.0.0.1")
            elapsed = time.perf_counter() - t0
        out[path] = {
            "status": response.status_code,
            "queries": len(ctx.captured_queries),
            "sql_ms": round(timer.seconds * 1000, 2),
            "request_ms": round(elapsed * 1000, 2),
            "bytes": len(response.content),
            "sql": [q["sql"][:160] for q in ctx.captured_queries],
        }
    return out


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1:])))
