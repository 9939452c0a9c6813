"""Keyed digests of detected values: lets an auditor see that two requests carried the same identifier
without the audit log ever holding the identifier. HMAC-SHA256 with a per-installation secret, truncated."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

_key: bytes = b""


def derive(purpose: str) -> bytes:
    """A sub-key of the installation secret for one purpose (state keys, the vault): the same on every replica."""
    if not _key:
        set_key(secrets.token_bytes(32))
    return hmac.new(_key, b"phiwall/" + purpose.encode("ascii"), hashlib.sha256).digest()


def key_digest(purpose: str, value: str | bytes) -> str:
    """A keyed digest for a storage key (no PHI or user-chosen name may appear in a Redis key), 32 hex digits."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return hmac.new(derive(purpose), raw, hashlib.sha256).hexdigest()[:32]


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


SECRET_ENV = "PHIWALL_SECRET"  # the installation secret itself (at least 32 characters), for containers


def load_or_create_secret(path: Path) -> bytes:
    """Read the installation secret, creating it (mode 0600) on first use.

    Every replica of a gateway must use the same secret, so that a digest, a pseudonym or a state key made by one
    replica is the one another makes: give them all $PHIWALL_SECRET (wins) or the same file ($PHIWALL_SECRET_FILE).
    """
    env = os.environ.get(SECRET_ENV, "").strip().encode("utf-8")
    if env:
        if len(env) < 32:
            raise ValueError(f"${SECRET_ENV} must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return env
    if path.exists():
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing (too short) file keeps its old mode through O_TRUNC otherwise
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
