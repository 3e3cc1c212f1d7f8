"""The secret key of an install that was given none (``DJANGO_DEBUG`` on, no
``DJANGO_SECRET_KEY``): made once, on first start, and kept in a file of its own under
``SIDEBYSIDE_VAR_DIR`` that only its owner may read (mode 0600).

A constant in the source would be the same on every demo: anyone could sign pay links,
sessions and referral hashes for a demo reachable from elsewhere. The settings call this
module at import, so it uses nothing of Django's.
"""

import os
import secrets
from pathlib import Path

# Django's own advice for a key: at least 50 characters, at least 5 different ones.
MIN_LENGTH = 50


def secret_key_read_or_create(path: Path) -> str:
    """The key kept in ``path``, created there (mode 0600) when there is none yet.

    The web server and the worker start together on first run: the key is written to a
    temporary file, then linked into place, which fails if another process got there
    first; the loser reads the winner's key, so both sign with the same one."""
    for _attempt in range(3):
        key = _read(path)
        if key is not None:
            return key
        candidate = secrets.token_urlsafe(64)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(candidate + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue  # another process's key won: read it
            return candidate
        finally:
            tmp.unlink(missing_ok=True)
    raise RuntimeError(f"Could not read or create the secret key file {path}")


def _read(path: Path) -> str | None:
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        return None
    if len(key) < MIN_LENGTH:
        raise RuntimeError(
            f"The secret key file {path} holds no usable key: remove it to make a new one."
        )
    if path.stat().st_mode & 0o077:
        # Readable by others: whoever could read it can sign as this install.
        path.chmod(0o600)
    return key
