"""Fixtures for the gateway tests: real `phiwall run` replicas, redis-server, haproxy and prometheus processes,
all on 127.0.0.1, with the fake chatbot services of tests/support."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import REDIRECT
from tests.support.proxy import REPO
from tests.support.proxy import ProxyProcess
from tests.support.proxy import free_port
from tests.support.proxy import wait_listening
from tests.support.tls import SERVICE_HOSTS
from tests.support.tls import make_test_pki

pytestmark = pytest.mark.e2e


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if path is None:
        pytest.skip(f"{binary} is not installed (scripts/setup.sh installs it: apt-get install {binary})")
    return path


def clean_env(home: Path, **more: str) -> dict[str, str]:
    e = dict(os.environ, PHIWALL_HOME=str(home), PYTHONUNBUFFERED="1")
    for k in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy", "PHIWALL_SECRET"):
        e.pop(k, None)
    e.update(more)
    return e


def phiwall_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "phiwall.cli", *args]


def start_replica(
    home: Path,
    upstreams: dict[str, int],
    upstream_ca: Path,
    *,
    run_args: list[str] | None = None,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    workers: int = 1,
) -> ProxyProcess:
    """`phiwall run` with first-class flags (`run_args`) before `--` and mitmdump options after it."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    audit = home / "audit.jsonl"
    log = home / "proxy.log"
    mapping = ",".join(f"{h}=127.0.0.1:{p}" for h, p in upstreams.items())
    cmd = phiwall_cmd("run", "--port", str(port), "--audit-file", str(audit), "--workers", str(workers))
    cmd += run_args or []
    cmd += ["--", "-s", str(REDIRECT), "--set", f"ssl_verify_upstream_trusted_ca={upstream_ca}"]
    cmd += extra or []
    e = clean_env(home, PHIWALL_TEST_UPSTREAMS=mapping, **(env or {}))
    fh = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=e, cwd=REPO)
    pp = ProxyProcess(proc, port, home, audit, log)
    try:
        wait_listening(proc, port, log, 90)
    except RuntimeError:
        pp.stop()
        raise
    return pp


def wait_ready(admin_port: int, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"http://127.0.0.1:{admin_port}/readyz", timeout=2, trust_env=False)
            if r.status_code == 200:
                return
            last = r.text
        except httpx.HTTPError as e:
            last = str(e)
        time.sleep(0.3)
    raise RuntimeError(f"not ready after {seconds} s: {last}")


@dataclass
class Redis:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def upstream(pki: tuple[Path, Path, Path]) -> Iterator[FakeUpstream]:
    _, cert, key = pki
    with FakeUpstream(cert, key) as up:
        yield up


@pytest.fixture
def fresh_upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.clear()
    return upstream


@pytest.fixture(scope="session")
def upstream_map(upstream: FakeUpstream) -> dict[str, int]:
    return {h: upstream.port for h in SERVICE_HOSTS}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    exe = need("redis-server")
    port = free_port()
    d = tmp_path_factory.mktemp("redis")
    log = d / "redis.log"
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(d),
         "--maxmemory", "256mb", "--maxmemory-policy", "noeviction"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_listening(proc, port, log, 20)
    yield Redis(proc, port)
    proc.terminate()
    proc.wait(10)
