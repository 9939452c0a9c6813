"""Decompression bombs and legal-but-unusual encodings through a real `phiwall run` (issue 13, item 9 and the
concatenated-gzip gap): the proxy answers 413 in the service's shape, its own memory and its workers' stay near
the policy limit instead of the expansion, and it keeps serving."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.proxy import start_proxy
from tests.support.samples import BENIGN
from tests.support.tls import SERVICE_HOSTS
from tests.unit.test_encoding_bombs import brotli_bomb
from tests.unit.test_encoding_bombs import zlib_bomb
from tests.unit.test_encoding_bombs import zstd_bomb

pytestmark = pytest.mark.e2e
MB = 1 << 20


@pytest.fixture(scope="module")
def bomb_proxy(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream: FakeUpstream
) -> Iterator[ProxyProcess]:
    """A proxy of its own, so the peak-memory figures are this module's."""
    p = start_proxy(tmp_path_factory.mktemp("bombs-home"), {h: upstream.port for h in SERVICE_HOSTS}, pki[0])
    try:
        # Warm both worker lanes (a small body: express; a large one: general) so model loading is not counted.
        for pad in (0, 2 * MB):
            r = _post(p, gzip.compress(_chat(BENIGN) + b" " * pad), "gzip")
            assert r.status_code == 200, r.text
        yield p
    finally:
        p.stop()


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _family(pid: int) -> list[int]:
    """The proxy and its worker processes."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for c in children:
            out += _family(int(c))
    return out


def _post(proxy: ProxyProcess, body: bytes, coding: str) -> httpx.Response:
    with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=120) as c:
        return c.post(
            "https://api.openai.com/v1/chat/completions",
            content=body,
            headers={"content-type": "application/json", "content-encoding": coding},
        )


def _chat(text: str) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()


@pytest.mark.parametrize(
    "coding,make",
    [
        ("br", brotli_bomb),  # 1.6 KB -> 1 GB
        ("zstd", zstd_bomb),  # ~70 KB -> 2.2 GB
        ("gzip", lambda: zlib_bomb(1024, 31)),  # 1 MB -> 1 GB
        ("deflate", lambda: zlib_bomb(1024, 15)),
    ],
)
def test_bomb_is_refused_without_the_expansion_in_memory(
    bomb_proxy: ProxyProcess, fresh_upstream: FakeUpstream, coding: str, make
) -> None:
    bomb = make()
    pids = _family(bomb_proxy.proc.pid)
    before = {p: _hwm(p) for p in pids}
    r = _post(bomb_proxy, bomb, coding)
    assert r.status_code == 413, r.text
    assert "decompression bomb" in r.json()["error"]["message"]
    assert fresh_upstream.requests == []
    growth = {p: _hwm(p) - before[p] for p in pids if Path(f"/proc/{p}").exists()}
    # The policy limit is 50 MiB; the bomb expands to 1-2.2 GB. Each process may hold the limit and a copy.
    assert max(growth.values()) < 200 * MB, {p: f"{g / MB:.0f} MiB" for p, g in growth.items()}
    ev = bomb_proxy.audit_events()[-1]
    assert ev["verdict"] == "block" and "bomb" in ev["error"]
    ok = _post(bomb_proxy, gzip.compress(_chat(BENIGN)), "gzip")
    assert ok.status_code == 200, ok.text


def test_concatenated_gzip_members_are_inspected_and_forwarded(
    bomb_proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    """Two gzip members (RFC 1952 §2.2; `cat a.gz b.gz`, pigz) were a 422; now they are one body."""
    body = _chat(BENIGN)
    r = _post(bomb_proxy, gzip.compress(body[:20]) + gzip.compress(body[20:]), "gzip")
    assert r.status_code == 200, r.text
    assert len(fresh_upstream.requests) == 1


def test_concatenated_gzip_members_with_phi_are_blocked(bomb_proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    from tests.support.samples import PHI_PROMPT

    body = _chat(PHI_PROMPT)
    r = _post(bomb_proxy, gzip.compress(body[:30]) + gzip.compress(body[30:]), "gzip")
    assert r.status_code == 403 and r.json()["error"]["type"] == "phiwall_blocked", r.text
    assert fresh_upstream.requests == []
