"""Type checking is part of the suite: mypy --strict on proxy/phiwall, configured in pyproject.toml [tool.mypy]
(third-party packages without types are listed there per module, never ignored globally)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e .[test])")
def test_mypy_strict_is_clean() -> None:
    # The repository's .mypy_cache (git-ignored) keeps a re-run to a few seconds; a cold run takes ~25 s here.
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
