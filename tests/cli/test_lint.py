"""Style is part of the suite: ruff's lint rules and formatter (pyproject.toml [tool.ruff]) on every tree we ship."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TREES = ["proxy", "addons", "tests", "bench", "training"]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(args: list[str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ruff", *args, *TREES], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]
