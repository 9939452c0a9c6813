"""Fixtures for in-process addon tests: phiwall's real addon in mitmproxy's test context, inspecting inline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mitmproxy.test import taddons
from phiwall.addon import PhiWall


@pytest.fixture
def phiwall_ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[PhiWall, taddons.context]]:
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    from mitmproxy.addons.proxyserver import Proxyserver

    addon = PhiWall()
    # Proxyserver defines the core proxy options phiwall checks (stream_large_bodies, body_size_limit); it is not
    # started (no `running` hook in the test context).
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(
            addon, phiwall_inline=True, phiwall_audit_file=str(tmp_path / "audit.jsonl"), phiwall_reload_seconds=0
        )
        yield addon, tctx


def audit(tmp_path: Path) -> list[dict]:
    import json

    f = tmp_path / "audit.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else []
