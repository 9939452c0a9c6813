"""Where phiwall keeps its files on a machine: ~/.phiwall unless PHIWALL_HOME says otherwise."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("PHIWALL_HOME") or Path.home() / ".phiwall").expanduser()


def default_audit_file() -> Path:
    return home() / "audit.jsonl"


def default_secret_file() -> Path:
    return home() / "secret"


def default_confdir() -> Path:
    """mitmproxy's confdir: the CA phiwall signs intercepted certificates with."""
    return home() / "mitmproxy"
