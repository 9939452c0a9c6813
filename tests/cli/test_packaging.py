"""The things a newcomer touches first: the console script, the embedded default policy, the compose file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_embedded_default_policy_is_the_shipped_one() -> None:
    shipped = (REPO / "policies" / "default.yaml").read_bytes()
    embedded = (REPO / "proxy" / "phiwall" / "data" / "default.yaml").read_bytes()
    assert shipped == embedded, "copy policies/default.yaml to proxy/phiwall/data/default.yaml"


def test_run_refuses_an_invalid_policy_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nid: x\nrules:\n  - id: r1\n    when: {entitys: [PERSON]}\n    action: block\n")
    r = subprocess.run(
        [sys.executable, "-m", "phiwall.cli", "run", "--policy", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PHIWALL_HOME=str(tmp_path)),
    )
    assert r.returncode == 1
    assert f"{bad}:5: rules[0].when.entitys" in r.stderr


def test_console_script_help() -> None:
    exe = Path(sys.executable).with_name("phiwall")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "scan" in r.stdout and "run" in r.stdout


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed")
def test_compose_file_is_valid() -> None:
    r = subprocess.run(
        ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
