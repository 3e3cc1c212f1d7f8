"""Real servers for multi-process tests: Daphne processes serving the app on the test
database (PostgreSQL: another process cannot see SQLite's in-memory test database) and a
channel layer on Redis under a prefix of the test's own. Used by
tests/booking/test_scale_out.py and tests/booking/test_failover.py.

``server_env(tmp_path, prefix)`` → the environment; ``daphne_servers(n, env, tmp_path)``
→ a context manager yielding ``DaphneServer(port, process)`` each; ``session_cookie(user)``
and ``next_frame(ws, kind, timeout=…)`` for websocket clients (aiohttp)."""

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
REDIS_URL = os.environ.get("REDIS_URL", "")

# A test module of servers: ``pytestmark = [*NEEDS_SERVERS, …]``.
NEEDS_SERVERS = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="needs PostgreSQL (DATABASE_URL): the servers are separate processes and "
        "must share the test database",
    ),
    pytest.mark.skipif(
        not REDIS_URL, reason="needs Redis (REDIS_URL): the channel layer the servers share"
    ),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's ``test_<name>``)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


test_database_url.__test__ = False  # a helper, not a test


def server_env(tmp_path: Path, prefix: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SIDEBYSIDE_VAR_DIR")
    }
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=REDIS_URL,
        # This run's keys only, whoever else uses the same Redis.
        CHANNELS_PREFIX=prefix,
        CACHE_PREFIX=prefix,
        DJANGO_DEBUG="1",
        DJANGO_ALLOWED_HOSTS=f"{HOST},localhost",
        SIDEBYSIDE_VAR_DIR=str(tmp_path),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class DaphneServer:
    port: int
    process: subprocess.Popen


@contextlib.contextmanager
def daphne_servers(count: int, env: dict[str, str], tmp_path: Path):
    """``count`` Daphne processes serving ``asgi:application``; yields them (``port``,
    ``process``: e.g. to kill one) once each answers /healthz, and always stops them."""
    processes, ports = [], []
    command = [sys.executable, "-m", "daphne", "-b", HOST, "-p"]
    try:
        for n in range(count):
            port = free_port()
            log = open(tmp_path / f"daphne-{n}.log", "wb")  # noqa: SIM115 - closed below
            processes.append(
                (
                    subprocess.Popen(
                        [*command, str(port), "asgi:application"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
            ports.append(port)
        for (process, _log), port in zip(processes, ports, strict=True):
            wait_healthy(process, port)
        yield [
            DaphneServer(port, process)
            for (process, _log), port in zip(processes, ports, strict=True)
        ]
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            log.close()


def wait_healthy(process: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Daphne on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"Daphne on port {port} not healthy after {timeout:.0f} s")


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def next_frame(ws, kind: str, *, timeout: float, match=lambda frame: True) -> dict:
    """The next frame of ``kind`` that ``match``es, skipping presence and the rest."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"no {kind} frame within {timeout} s")
        frame = await ws.receive_json(timeout=left)
        if frame.get("type") == kind and match(frame):
            return frame
