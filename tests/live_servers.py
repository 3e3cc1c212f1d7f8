"""Real Daphne processes for multi-process tests of the live plan (PostgreSQL + Redis):
their environment on the test database and a Redis prefix of the run, starting and
stopping them, a logged-in session cookie, and reading frames from a socket."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.pg import on_postgres, test_database_url

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
REDIS_URL = os.environ.get("REDIS_URL", "")

# The marks of a test with real servers: they share the test database (so the test is
# transactional: its rows are committed) and a Redis channel layer.
needs_servers = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not on_postgres,
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


def server_env(tmp_path: Path, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a server on the test database and Redis under ``prefix``;
    ``extra`` adds or replaces variables."""
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
        # The test process's key: the servers read the sessions it signed (a debug server
        # would otherwise make a key of its own under its var directory).
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_ALLOWED_HOSTS=f"{HOST},localhost",
        SIDEBYSIDE_VAR_DIR=str(tmp_path),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def daphne_server(env: dict[str, str], tmp_path: Path, name: str = "daphne"):
    """One Daphne process serving ``asgi:application``; yields ``(process, port)`` once it
    answers /healthz, and always stops it (a stopped process is resumed first)."""
    port = free_port()
    with open(tmp_path / f"{name}.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port), "asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(process, port)
            yield process, port
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@contextlib.contextmanager
def daphne_servers(count: int, env: dict[str, str], tmp_path: Path):
    """``count`` Daphne processes; yields their ports once each answers /healthz."""
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(daphne_server(env, tmp_path, f"daphne-{n}")) for n in range(count)
        ]
        yield [port for _process, port in servers]


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
