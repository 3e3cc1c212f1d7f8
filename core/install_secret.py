"""The secret key of an install that was given none (``DJANGO_DEBUG`` on, no
``DJANGO_SECRET_KEY``): made once, on first start, and kept in a file of its own under
``SIDEBYSIDE_VAR_DIR`` that only its owner may read (mode 0600). The same for the Web
Push key pair (VAPID, RFC 8292) of a debug install given no ``VAPID_*_KEY``.

A constant in the source would be the same on every demo: anyone could sign pay links,
sessions and referral hashes for a demo reachable from elsewhere. The settings call this
module at import, so it uses nothing of Django's.
"""

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# Django's own advice for a key: at least 50 characters, at least 5 different ones.
MIN_LENGTH = 50


def secret_key_read_or_create(path: Path) -> str:
    """The key kept in ``path``, created there (mode 0600) when there is none yet."""
    return _read_or_create(path, make=lambda: secrets.token_urlsafe(64), read=_read)


def _read_or_create(path: Path, *, make: Callable[[], str], read: Callable) -> str:
    """The web server and the worker start together on first run: the key is written to a
    temporary file, then linked into place, which fails if another process got there
    first; the loser reads the winner's key, so both sign with the same one."""
    for _attempt in range(3):
        key = read(path)
        if key is not None:
            return key
        candidate = make()
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
    raise RuntimeError(f"Could not read or create the key file {path}")


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


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_keys_new() -> tuple[str, str]:
    """A new VAPID key pair (P-256) as the settings take it: the public key as the
    browser's ``applicationServerKey`` wants it (the uncompressed point, base64url) and
    the private key's 32 bytes, base64url."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(public), _b64url(private.private_numbers().private_value.to_bytes(32, "big"))


def vapid_public_key_of(private_key: str) -> str:
    """The public key (base64url uncompressed point) of a base64url private key."""
    raw = base64.urlsafe_b64decode(private_key + "=" * (-len(private_key) % 4))
    if len(raw) != 32:
        raise ValueError("a VAPID private key is 32 bytes, base64url")
    private = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    return _b64url(
        private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def _read_vapid(path: Path) -> str | None:
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        vapid_public_key_of(key)
    except ValueError as exc:
        raise RuntimeError(
            f"The Web Push key file {path} holds no usable key: remove it to make a new one."
        ) from exc
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return key


def vapid_keys_read_or_create(path: Path) -> tuple[str, str]:
    """The install's VAPID pair (public, private), its private key kept in ``path``."""
    private = _read_or_create(path, make=lambda: vapid_keys_new()[1], read=_read_vapid)
    return vapid_public_key_of(private), private
