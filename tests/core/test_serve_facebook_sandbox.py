"""`manage.py serve` without FACEBOOK_APP_ID starts the Facebook sandbox (the fake on
loopback) beside the web server and points the web process at it; with an app id it
starts nothing of the fake."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.core.test_serve import ROOT, _free_port, embedded_env  # noqa: F401


def _login_page(port: int) -> str | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/accounts/login/", headers={"Accept-Language": "en"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def _serve(env: dict, port: int) -> tuple[str | None, str]:
    """Run serve until the login page answers; returns (page, output) after Ctrl-C."""
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--no-worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    page = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and page is None and server.poll() is None:
            try:
                page = _login_page(port)
            except OSError:
                time.sleep(0.3)
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    return page, server.stdout.read().decode()


def test_without_an_app_id_the_sandbox_runs_and_is_labelled(embedded_env):  # noqa: F811
    env = {k: v for k, v in embedded_env.items() if not k.startswith("FACEBOOK_")}

    page, output = _serve(env, _free_port())

    assert page is not None, output
    assert "Facebook sandbox (local demo)" in page
    assert 'action="/accounts/facebook/login/"' in page
    found = re.search(r"Facebook sandbox \(local demo, not the real Facebook\) at (\S+)", output)
    assert found, output
    with pytest.raises(OSError):  # stopped with the rest
        urllib.request.urlopen(found.group(1), timeout=2)


def test_with_a_real_app_id_nothing_of_the_fake_starts(embedded_env):  # noqa: F811
    env = embedded_env | {"FACEBOOK_APP_ID": "123456789", "FACEBOOK_APP_SECRET": "s3cret"}

    page, output = _serve(env, _free_port())

    assert page is not None, output
    assert "sandbox" not in page.lower()
    assert 'action="/accounts/facebook/login/"' in page
    assert "Facebook sandbox" not in output
