"""Issue 13 item 3: inspection workers share the NLP engine's memory. They fork from a fork server that built it
once (phiwall.worker_preload), so each worker's private memory (USS, from /proc/PID/smaps_rollup) is well under
what a worker that loads its own model holds (about 180 MiB measured; see docs/performance.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        out += [int(k) for k in kids]
    return out


def _descendants(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        for c in _children(p):
            seen.append(c)
            todo.append(c)
    return seen


def _rollup(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0]) * 1024
    return out


@pytest.fixture
def fresh_proxy(tmp_path: Path, pki: tuple[Path, Path, Path], upstream: FakeUpstream) -> Iterator[ProxyProcess]:
    """A proxy of its own: the session's shared one has decoded images and PDFs by now, and a worker's heap that
    grew doing that work is its own memory, not a copy of the model."""
    p = start_proxy(tmp_path / "home", {h: upstream.port for h in SERVICE_HOSTS}, pki[0])
    yield p
    p.stop()


def test_workers_share_the_model(fresh_proxy: ProxyProcess) -> None:
    proxy = fresh_proxy
    import openai

    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=120)
    c = openai.OpenAI(api_key="sk", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)
    c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])  # warm and used
    time.sleep(1)
    procs = {p: Path(f"/proc/{p}/cmdline").read_bytes() for p in _descendants(proxy.proc.pid)}
    workers = [p for p, cmd in procs.items() if b"forkserver" in cmd and _rollup(p)["Rss"] > 150 * MiB]
    assert any(b"forkserver" in cmd for cmd in procs.values()), "workers are not started by a fork server"
    assert len(workers) >= 2, procs
    for p in workers:
        r = _rollup(p)
        uss = r["Private_Clean"] + r["Private_Dirty"]
        assert uss < 140 * MiB, f"worker {p} holds {uss // MiB} MiB of its own"


def test_workers_end_with_a_killed_proxy(tmp_path: Path, pki: tuple[Path, Path, Path], upstream: FakeUpstream) -> None:
    """A replica killed with SIGKILL (crash, OOM killer) used to leave its fork server and workers running for
    ever, half a gigabyte per set: they now end with it (PR_SET_PDEATHSIG down the chain)."""
    import os
    import signal

    import openai

    p = start_proxy(tmp_path / "home", {h: upstream.port for h in SERVICE_HOSTS}, pki[0])
    try:
        http = openai.DefaultHttpxClient(proxy=p.url, verify=str(p.ca), timeout=120)
        c = openai.OpenAI(api_key="sk", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
        procs = [q for q in _descendants(p.proc.pid) if b"forkserver" in Path(f"/proc/{q}/cmdline").read_bytes()]
        assert len(procs) >= 3, procs  # the fork server and its workers
        os.kill(p.proc.pid, signal.SIGKILL)
        p.proc.wait(10)
        deadline = time.monotonic() + 15
        alive = procs
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [q for q in procs if Path(f"/proc/{q}").exists() and _state(q) != "Z"]
        assert not alive, f"left behind: {alive}"
    finally:
        p.stop()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"
