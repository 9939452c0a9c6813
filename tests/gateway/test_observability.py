"""The admin port of a real `phiwall run`: /metrics moves when a request is blocked, an invalid policy reload
keeps the old policy and shows in the reload metrics, /healthz, /readyz, /proxy.pac; a real Debian prometheus
scrapes a replica; the "ready" log line; audit to syslog (RFC 5424) and reopened on SIGHUP (logrotate)."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import need
from tests.gateway.conftest import start_replica
from tests.gateway.conftest import wait_ready
from tests.support.proxy import ProxyProcess
from tests.support.proxy import free_port
from tests.support.proxy import wait_listening

POLICY = """version: 1
id: {id}
detectors: {{text_phi: {{enabled: false}}, medical_image: {{enabled: false}}}}
rules:
  - id: chat-{action}
    action: {action}
    when: {{services: [openai_api], endpoints: [chat]}}
"""
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "How do statins work?"}]}


def _until(what: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.2)
    return False


def _chat(p: ProxyProcess) -> httpx.Response:
    with httpx.Client(proxy=p.url, verify=ssl.create_default_context(cafile=str(p.ca)), timeout=60) as c:
        return c.post("https://api.openai.com/v1/chat/completions", json=CHAT)


def _metric(admin: int, name: str, **labels: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{admin}/metrics", timeout=10, trust_env=False).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:]+)(\{.*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        lab = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(lab.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


@pytest.fixture(scope="module")
def replica(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Path, Path, Path], upstream_map: dict[str, int]
) -> Iterator[tuple[ProxyProcess, int, Path, socket.socket]]:
    d = tmp_path_factory.mktemp("obs")
    pol = d / "policy.yaml"
    pol.write_text(POLICY.format(id="one", action="block"))
    admin = free_port()
    syslog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    syslog.bind(("127.0.0.1", 0))
    syslog.settimeout(10)
    p = start_replica(
        d / "home", upstream_map, pki[0],
        run_args=["--policy", str(pol), "--admin-port", str(admin)],
        extra=["--set", "phiwall_reload_seconds=1", "--set", f"phiwall_syslog=udp://127.0.0.1:{syslog.getsockname()[1]}"],
    )  # fmt: skip
    wait_ready(admin)
    yield p, admin, pol, syslog
    p.stop()
    syslog.close()


def test_health_ready_pac_and_the_ready_log_line(replica) -> None:
    p, admin, _, _ = replica
    base = f"http://127.0.0.1:{admin}"
    assert httpx.get(base + "/healthz", trust_env=False).json() == {"status": "up"}
    assert httpx.get(base + "/readyz", trust_env=False).status_code == 200
    pac = httpx.get(base + "/proxy.pac", trust_env=False)
    assert pac.headers["content-type"] == "application/x-ns-proxy-autoconfig"
    assert "FindProxyForURL" in pac.text and f"PROXY 127.0.0.1:{p.port}" in pac.text
    assert httpx.get(base + "/nothing", trust_env=False).status_code == 404
    assert _until(lambda: "phiwall: ready in" in p.log.read_text())
    assert re.search(r"phiwall: ready in \d+\.\d s", p.log.read_text())
    assert _metric(admin, "phiwall_ready") == 1.0


def test_admin_port_listens_on_loopback_only(replica) -> None:
    _, admin, _, _ = replica
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    lines = [ln for ln in out.splitlines() if f":{admin} " in ln]
    assert lines and all("127.0.0.1:" in ln for ln in lines), lines


def test_metrics_move_when_a_request_is_blocked_and_syslog_gets_the_event(replica, fresh_upstream) -> None:
    p, admin, _, syslog = replica
    before = _metric(admin, "phiwall_requests_total", service="openai_api", verdict="block")
    rule_before = _metric(admin, "phiwall_rule_matches_total", rule="chat-block")
    r = _chat(p)
    assert r.status_code == 403
    assert _until(lambda: _metric(admin, "phiwall_requests_total", service="openai_api", verdict="block") == before + 1)
    assert _metric(admin, "phiwall_rule_matches_total", rule="chat-block") == rule_before + 1
    assert _metric(admin, "phiwall_request_seconds_count", service="openai_api") >= 1
    assert fresh_upstream.requests == []  # blocked: nothing reached the service
    deadline = time.monotonic() + 10
    got = b""
    while time.monotonic() < deadline and b'"verdict":"block"' not in got:
        got = syslog.recv(65536)
    assert re.match(rb"<\d+>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 \S+ phiwall \d+ inspection - \{", got), got
    assert b'"verdict":"block"' in got


def test_invalid_reload_keeps_the_old_policy_and_shows_in_the_reload_metric(replica) -> None:
    p, admin, pol, _ = replica
    assert _metric(admin, "phiwall_policy_reload_ok") == 1.0
    gen = _metric(admin, "phiwall_policy_generation")
    tmp = pol.with_suffix(".tmp")
    tmp.write_text(POLICY.format(id="broken", action="reject"))  # `reject` is no action: invalid
    tmp.replace(pol)
    assert _until(lambda: _metric(admin, "phiwall_policy_reload_ok") == 0.0)
    assert _metric(admin, "phiwall_policy_reloads_total", result="failed") >= 1
    assert _chat(p).status_code == 403  # the old (blocking) policy is still in force
    tmp.write_text(POLICY.format(id="two", action="warn"))
    tmp.replace(pol)
    assert _until(lambda: _metric(admin, "phiwall_policy_reload_ok") == 1.0)
    assert _metric(admin, "phiwall_policy_generation") == gen + 1
    assert _chat(p).status_code == 200
    tmp.write_text(POLICY.format(id="three", action="block"))
    tmp.replace(pol)
    assert _until(lambda: _metric(admin, "phiwall_policy_generation") == gen + 2)


def test_audit_file_is_reopened_on_sighup(replica) -> None:
    p, _, _, _ = replica
    rotated = p.audit.with_suffix(".1")
    p.audit.rename(rotated)
    os.kill(p.proc.pid, signal.SIGHUP)
    assert _until(lambda: "reopened the audit file" in p.log.read_text(), 10)
    _chat(p)
    assert _until(lambda: p.audit.exists() and p.audit.read_text().strip() != "")
    assert p.proc.poll() is None
    ts = [e["ts"] for e in p.audit_events()]
    assert ts and all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$", t) for t in ts), ts


def test_a_real_prometheus_scrapes_a_replica(replica, tmp_path: Path) -> None:
    exe = need("prometheus")
    _, admin, _, _ = replica
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: phiwall\n    static_configs: [{{targets: ['127.0.0.1:{admin}']}}]\n"
    )
    log = tmp_path / "prom.log"
    proc = subprocess.Popen(
        [exe, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_listening(proc, port, log, 60)

        def series() -> list[dict]:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": "phiwall_ready"}, trust_env=False
                )
                return r.json()["data"]["result"] if r.status_code == 200 else []
            except (httpx.HTTPError, KeyError, ValueError):
                return []

        assert _until(lambda: bool(series()), 60), log.read_text()[-2000:]
        got = series()[0]
        assert got["metric"]["job"] == "phiwall" and got["value"][1] == "1"
    finally:
        proc.terminate()
        proc.wait(20)
