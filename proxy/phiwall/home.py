"""Where phiwall keeps its files on a machine: ~/.phiwall unless PHIWALL_HOME says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("PHIWALL_HOME") or Path.home() / ".phiwall").expanduser()


def default_audit_file() -> Path:
    return home() / "audit.jsonl"


def default_secret_file() -> Path:
    """The installation secret: $PHIWALL_SECRET_FILE (every replica mounts the same one), else ~/.phiwall/secret."""
    named = os.environ.get("PHIWALL_SECRET_FILE")
    return Path(named).expanduser() if named else home() / "secret"


def default_confdir() -> Path:
    """mitmproxy's confdir: the CA phiwall signs intercepted certificates with."""
    return home() / "mitmproxy"


# Files in mitmproxy's confdir that hold the CA's private key (the .pem and .p12 bundles; the -cert files are public).
CA_SECRET_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca.p12")


def restrict_secrets(confdir: Path) -> None:
    """Owner-only access to the CA private key and the folders that hold it (and the installation secret).

    mitmproxy writes its key files under a 077 umask, but a confdir made by hand, copied in, or created by an
    older version may be readable by others: anyone who can read the key can impersonate every site to every
    client that trusts the CA."""
    for d in (home(), confdir):
        if d.is_dir():
            d.chmod(0o700)
    for name in CA_SECRET_FILES:
        f = confdir / name
        if f.exists():
            f.chmod(0o600)
    secret = default_secret_file()
    if secret.exists():
        secret.chmod(0o600)
