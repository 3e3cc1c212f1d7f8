"""The run command's server: `manage.py serve` starts Daphne and the worker on the embedded
defaults, serves HTTP through asgi.py, and Ctrl-C stops both children."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_DEBUG="1", SIDEBYSIDE_VAR_DIR=str(tmp_path), WORKER_INTERVAL_SECONDS="0.2")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def test_serve_runs_web_and_worker_and_ctrl_c_stops_both(embedded_env):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline:
            try:
                status, health = _get(f"http://127.0.0.1:{port}/healthz")
                if health.get("worker_last_seen_seconds") is not None:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        assert health is not None, "the server never answered"
        assert status == 200
        assert health["database"] == "ok"
        assert health["channel_layer"] == "ok"
        assert health["worker_last_seen_seconds"] is not None, "the worker never ran"
        status, stations = _get(f"http://127.0.0.1:{port}/api/stations/")
        assert status == 200
        assert stations == []
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    output = server.stdout.read().decode()
    assert "worker" in output and "stopped" in output
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/healthz")
