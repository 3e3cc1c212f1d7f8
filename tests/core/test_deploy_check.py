"""Production settings come from the environment: set as documented they pass
``check --deploy`` with no warning, and without a secret key they refuse to start."""

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_env(tmp_path):
    """The process's environment without any DJANGO_* override, as on a fresh server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(60)),
        DJANGO_ALLOWED_HOSTS="sidebyside.example",
        SIDEBYSIDE_VAR_DIR=str(tmp_path),
        # As documented for a deployment on a shared Redis (booking.W001 otherwise).
        CHANNELS_PREFIX="sbs-prod",
        # Links in e-mails (core.E001 otherwise).
        SITE_URL="https://sidebyside.example",
    )
    return env


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check_without_a_warning(production_env):
    result = _manage(production_env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_fails_on_a_weak_secret_key(production_env):
    production_env["DJANGO_SECRET_KEY"] = "short"

    result = _manage(production_env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("secret_key", [None, ""])
def test_without_a_secret_key_and_debug_off_settings_refuse_to_start(production_env, secret_key):
    del production_env["DJANGO_SECRET_KEY"]
    if secret_key is not None:
        production_env["DJANGO_SECRET_KEY"] = secret_key

    result = _manage(production_env, "check")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr
