"""`phiwall run` as a real process, its own watcher task, real HTTP through it. Deliver 2: the proxy reloads its
policy when the file changes, keeps the last good policy when the new file is invalid (and audits the refusal
with file, line and field), and takes the next valid version again; the same for a base the policy `extends`.
Deliver 5: `--mode shadow` changes nothing and audits what the policy would have done."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS
from tests.support.tls import make_test_pki

pytestmark = pytest.mark.e2e

POLICY = """version: 1
id: {id}
detectors: {{text_phi: {{enabled: false}}, medical_image: {{enabled: false}}}}
rules:
  - id: chat
    action: {action}
    when: {{services: [openai_api], endpoints: [chat]}}
"""
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "How do statins work?"}]}


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Path, FakeUpstream]]:
    ca, cert, key = make_test_pki(tmp_path / "pki")
    with FakeUpstream(cert, key) as up:
        yield ca, up


@pytest.fixture
def proxy_for(tmp_path: Path, upstream: tuple[Path, FakeUpstream]) -> Iterator[Callable[..., ProxyProcess]]:
    started: list[ProxyProcess] = []
    ca, up = upstream

    def start(policy: Path, mode: str = "enforce") -> ProxyProcess:
        # The reload interval through mitmproxy's own `--set`, as an administrator would: the proxy must start.
        home = tmp_path / f"home{len(started)}"
        p = start_proxy(
            home,
            {h: up.port for h in SERVICE_HOSTS},
            ca,
            policy=policy,
            mode=mode,
            extra=["--set", "phiwall_reload_seconds=1"],
        )
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def _chat(proxy: ProxyProcess) -> httpx.Response:
    with httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), timeout=30) as c:
        return c.post("https://api.openai.com/v1/chat/completions", json=CHAT)


def _until(what: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.2)
    return False


def _write(path: Path, text: str) -> None:
    """Replace the file as an editor does (write a new file, rename it over the old one)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def test_running_proxy_reloads_and_keeps_the_last_good_policy(
    tmp_path: Path, proxy_for: Callable[..., ProxyProcess]
) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY.format(id="one", action="warn"))
    proxy = proxy_for(pol)
    first = _chat(proxy)
    assert first.status_code == 200 and first.headers.get("x-phiwall-verdict") == "warn"

    _write(pol, POLICY.format(id="two", action="block"))
    assert _until(lambda: _chat(proxy).status_code == 403), "the changed policy was not picked up"

    _write(pol, POLICY.format(id="three", action="reject"))  # invalid: unknown action
    assert _until(lambda: any(e.get("event") == "policy_reload_failed" for e in proxy.audit_events()))
    assert _chat(proxy).status_code == 403  # policy "two" still enforced
    failed = next(e for e in proxy.audit_events() if e.get("event") == "policy_reload_failed")
    assert f"{pol}:6: rules[0].action: Input should be" in failed["error"] and failed["kept"]
    assert "reject" not in failed.get("policy_id", "")

    _write(pol, POLICY.format(id="four", action="allow"))
    assert _until(lambda: "x-phiwall-verdict" not in (r := _chat(proxy)).headers and r.status_code == 200)
    reloaded = [e["policy_id"] for e in proxy.audit_events() if e.get("event") == "policy_reloaded"]
    assert reloaded == ["two", "four"]
    inspected = [e["policy_id"] for e in proxy.audit_events() if e.get("event") == "inspection"]
    assert inspected[0] == "one" and inspected[-1] == "four" and "three" not in inspected


def test_running_proxy_reloads_when_a_base_it_extends_changes(
    tmp_path: Path, proxy_for: Callable[..., ProxyProcess]
) -> None:
    """Only the shared base is edited, never the policy file the proxy was started with."""
    base = tmp_path / "base.yaml"
    base.write_text(POLICY.format(id="base", action="warn"))
    child = tmp_path / "team.yaml"
    child.write_text("id: team\nextends: base.yaml\n")
    proxy = proxy_for(child)
    assert _chat(proxy).headers.get("x-phiwall-verdict") == "warn"

    _write(base, POLICY.format(id="base", action="reject"))  # invalid: the last good policy stays
    assert _until(lambda: any(e.get("event") == "policy_reload_failed" for e in proxy.audit_events()))
    assert _chat(proxy).headers.get("x-phiwall-verdict") == "warn"

    _write(base, POLICY.format(id="base", action="block"))
    assert _until(lambda: _chat(proxy).status_code == 403), "the changed base was not picked up"
    events = [e for e in proxy.audit_events() if e.get("event", "").startswith("policy_")]
    assert [e["event"] for e in events] == ["policy_reload_failed", "policy_reloaded"]
    assert all(e["changed"] == [str(base)] for e in events)


def test_shadow_mode_forwards_everything_and_audits_what_would_happen(
    tmp_path: Path, proxy_for: Callable[..., ProxyProcess], upstream: tuple[Path, FakeUpstream]
) -> None:
    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY.format(id="strict", action="block"))
    proxy = proxy_for(pol, mode="shadow")
    r = _chat(proxy)
    assert r.status_code == 200 and "x-phiwall-verdict" not in r.headers and "Fake answer." in r.text
    assert [q.path for q in upstream[1].requests] == ["/v1/chat/completions"]  # it reached the service unchanged
    assert upstream[1].requests[0].json() == CHAT
    ev = [e for e in proxy.audit_events() if e.get("event") == "inspection"][-1]
    assert (ev["mode"], ev["verdict"], ev["applied"], ev["rule_ids"]) == ("shadow", "block", "none", ["chat"])
