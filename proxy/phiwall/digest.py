"""Keyed digests of detected values: lets an auditor see that two requests carried the same identifier
without the audit log ever holding the identifier. HMAC-SHA256 with a per-installation secret, truncated."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

_key: bytes = b""


def set_key(key: bytes) -> None:
    """Install the installation secret in this process (the addon and each worker process call it)."""
    global _key
    _key = key


def value_digest(value: str | bytes) -> str:
    """HMAC-SHA256 of a normalised value, first 16 hex digits. Safe to log; useless without the secret."""
    if isinstance(value, str):
        value = " ".join(value.split()).casefold().encode("utf-8")
    if not _key:
        # A process that never got the secret still must not emit a plain, guessable hash of PHI.
        set_key(secrets.token_bytes(32))
    return hmac.new(_key, value, hashlib.sha256).hexdigest()[:16]


def load_or_create_secret(path: Path) -> bytes:
    """Read the installation secret, creating it (mode 0600) on first use."""
    if path.exists():
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
