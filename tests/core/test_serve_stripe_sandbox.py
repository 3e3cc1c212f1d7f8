"""`manage.py serve` in Stripe sandbox mode (debug, no STRIPE_SECRET_KEY) starts the Stripe
sandbox (localstripe behind our idempotency layer, on loopback) beside the web server,
labels it, and stops it with the rest; with a secret key it starts nothing of it."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.core.test_serve import ROOT, _free_port, embedded_env  # noqa: F401


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def _serve(env: dict, port: int, stripe_port: int) -> tuple[bytes | None, str]:
    """Run serve until the web server answers; returns (Stripe.js from the sandbox, or
    None when it did not answer, and serve's output) after Ctrl-C."""
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--port",
            str(port),
            "--no-worker",
            "--stripe-sandbox-port",
            str(stripe_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stripe_js = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.3)
        try:
            status, stripe_js = _get(f"http://127.0.0.1:{stripe_port}/js.stripe.com/v3/")
            assert status == 200
        except OSError:
            stripe_js = None
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    return stripe_js, server.stdout.read().decode()


def _without_stripe(env: dict) -> dict:
    return {k: v for k, v in env.items() if not k.startswith("STRIPE_")}


def test_without_a_secret_key_the_stripe_sandbox_runs_labelled_and_stops(
    embedded_env,  # noqa: F811
):
    stripe_port = _free_port()

    stripe_js, output = _serve(_without_stripe(embedded_env), _free_port(), stripe_port)

    assert stripe_js is not None, output
    assert b"confirmCardPayment" in stripe_js  # localstripe's Stripe.js mock
    assert (
        f"Stripe sandbox (local demo, not the real Stripe: test cards only, no money moves) "
        f"at http://127.0.0.1:{stripe_port}"
    ) in output
    with pytest.raises(OSError):  # stopped with the rest
        _get(f"http://127.0.0.1:{stripe_port}/js.stripe.com/v3/")


def test_with_a_secret_key_no_stripe_sandbox_starts(embedded_env):  # noqa: F811
    env = _without_stripe(embedded_env) | {
        "STRIPE_SECRET_KEY": "sk_test_not_a_real_key",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_not_a_real_key",
    }
    stripe_port = _free_port()

    stripe_js, output = _serve(env, _free_port(), stripe_port)

    assert "Sidebyside is running" in output
    assert stripe_js is None
    assert "Stripe sandbox" not in output
