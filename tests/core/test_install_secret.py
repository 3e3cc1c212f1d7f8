"""An install without DJANGO_SECRET_KEY (debug on) signs with a key of its own, made on
first start under SIDEBYSIDE_VAR_DIR (mode 0600) and kept: never a published constant."""

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.install_secret import MIN_LENGTH, secret_key_read_or_create

ROOT = Path(__file__).resolve().parents[2]
OLD_CONSTANT = "django-insecure-local-development-only-key-not-for-production"


def test_the_key_is_made_once_private_to_its_owner_and_kept(tmp_path):
    path = tmp_path / "secret_key"
    key = secret_key_read_or_create(path)
    assert len(key) >= MIN_LENGTH and key != OLD_CONSTANT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key_read_or_create(path) == key
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left


def test_two_installs_have_two_keys(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = secret_key_read_or_create(tmp_path / "a" / "secret_key")
    assert first != secret_key_read_or_create(tmp_path / "b" / "secret_key")


def test_processes_starting_together_share_one_key(tmp_path):
    path = tmp_path / "secret_key"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _n: secret_key_read_or_create(path), range(32)))
    assert keys == {path.read_text().strip()}


def test_a_key_file_others_can_read_is_made_private(tmp_path):
    path = tmp_path / "secret_key"
    key = secret_key_read_or_create(path)
    path.chmod(0o644)
    assert secret_key_read_or_create(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_unusable_key_file_is_refused_not_used(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("short\n")
    with pytest.raises(RuntimeError, match="remove it"):
        secret_key_read_or_create(path)


def _settings_secret_key(var_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_DEBUG="1", SIDEBYSIDE_VAR_DIR=str(var_dir))
    result = subprocess.run(
        [sys.executable, "-c", "from config import settings; print(settings.SECRET_KEY)"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_debug_settings_without_a_key_use_the_installs_own(tmp_path):
    key = _settings_secret_key(tmp_path)
    assert key != OLD_CONSTANT and len(key) >= MIN_LENGTH
    assert (tmp_path / "secret_key").read_text().strip() == key
    assert _settings_secret_key(tmp_path) == key
