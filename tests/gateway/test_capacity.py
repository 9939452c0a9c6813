"""Capacity and overload, with real worker processes and a real `phiwall run`: dead workers (busy or idle, in
each lane) are replaced and the in-flight request is answered; the queue wait counts toward the time limit; a
saturated pool answers 503 + Retry-After quickly while non-guarded traffic keeps flowing; an abandoned request
is cancelled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from phiwall.errors import InspectionTimeout
from phiwall.policy import load_policy
from phiwall.request import RequestData
from phiwall.workers import SMALL_BODY
from phiwall.workers import InspectionOverload
from phiwall.workers import InspectorPool
from phiwall.workers import PoolLimits
from phiwall.workers import default_workers

from tests.gateway.conftest import start_replica
from tests.support.proxy import ProxyProcess

SENTENCE = "Follow-up for patient Maria Gonzalez (MRN 7712{:04d}) at 44 Oak Avenue; called 555-201-{:04d}. "


def slow_text(n: int = 3500) -> str:
    return "".join(SENTENCE.format(i, i) for i in range(n))  # ~370 KB: seconds of NER


def chat(body: str, flow_id: str = "") -> RequestData:
    raw = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": body}]}).encode()
    return RequestData("POST", "https", "api.openai.com", 443, "/v1/chat/completions",
                       (("content-type", "application/json"),), raw, flow_id=flow_id)  # fmt: skip


@pytest.fixture(scope="module")
def source():
    return load_policy(None)


@pytest.fixture(scope="module")
def pool(source) -> Iterator[InspectorPool]:
    p = InspectorPool(1, b"s" * 32, express=1, limits=PoolLimits(max_wait=0.3, max_queue=4))
    p.warm(source)
    deadline = time.monotonic() + 400  # model loading on a shared 2-core machine can take minutes
    while p.warm_state() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert p.warm_state() is None, p.warm_state()
    yield p
    p.close()


def _pid(pool: InspectorPool, lane: str) -> int:
    procs = list(pool._lanes[lane][0].executor._processes.values())  # type: ignore[attr-defined]
    return int(procs[0].pid)


def test_pool_is_sized_to_the_machine() -> None:
    assert default_workers() == max(1, min(len(os.sched_getaffinity(0)), 16))


@pytest.mark.parametrize("lane", ["general", "express"])
async def test_a_worker_killed_while_idle_is_replaced_and_the_next_request_succeeds(
    pool: InspectorPool, source, lane: str
) -> None:
    os.kill(_pid(pool, lane), signal.SIGKILL)
    time.sleep(0.3)
    body = "hello " * (SMALL_BODY // 4 if lane == "general" else 10)
    ins = await pool.inspect(source, chat(body), "openai_api", 60)
    assert str(ins.decision.verdict) == "allow"
    assert pool.replaced >= 1
    # heal() also catches it without a request: kill again and ask for readiness
    os.kill(_pid(pool, lane), signal.SIGKILL)
    time.sleep(0.3)
    assert pool.heal() == 1


async def test_a_shut_down_executor_in_a_lane_is_replaced_and_readiness_does_not_crash(
    pool: InspectorPool, source
) -> None:
    """Found by the soak: an executor whose `_processes` became None (shut down, broken) made heal() raise, so
    /readyz answered 500 and HAProxy took every replica out."""
    pool._lanes["general"][0].executor.shutdown(wait=True)
    assert pool.heal() == 1
    assert pool.warm_state() is None or "warming" in (pool.warm_state() or "")
    ins = await pool.inspect(source, chat("hello " * (SMALL_BODY // 4)), "openai_api", 120)
    assert str(ins.decision.verdict) == "allow"


@pytest.mark.parametrize("lane", ["general", "express"])
async def test_a_worker_killed_while_busy_answers_the_request_and_is_replaced(
    pool: InspectorPool, source, lane: str
) -> None:
    text = slow_text() if lane == "general" else slow_text(500)[: SMALL_BODY - 200]
    task = asyncio.ensure_future(pool.inspect(source, chat(text), "openai_api", 60))
    await asyncio.sleep(0.4)
    victim = _pid(pool, lane)
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(InspectionTimeout, match="stopped"):
        await task
    assert time.monotonic() - t0 < 5
    ins = await pool.inspect(source, chat("fine"), "openai_api", 60)
    assert str(ins.decision.verdict) == "allow" and _pid(pool, lane) != victim


async def test_saturated_lane_answers_overload_quickly_and_the_wait_counts_toward_the_limit(
    source,
) -> None:
    p = InspectorPool(1, b"s" * 32, express=0, limits=PoolLimits(max_wait=0.3, max_queue=4))
    p.warm(source)
    try:
        deadline = time.monotonic() + 400
        while p.warm_state() is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert p.warm_state() is None, p.warm_state()
        busy = asyncio.ensure_future(p.inspect(source, chat(slow_text()), "openai_api", 60))
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        with pytest.raises(InspectionOverload) as ei:
            await p.inspect(source, chat("quick", flow_id="f1"), "openai_api", 60)
        assert time.monotonic() - t0 < 1.0 and ei.value.retry_after >= 1 and "f1" in p.overloaded
        # With a time limit shorter than the wait bound, waiting alone uses up the limit: a timeout, not a hang.
        t0 = time.monotonic()
        with pytest.raises(InspectionTimeout):
            await p.inspect(source, chat("quick"), "openai_api", 0.1)
        assert time.monotonic() - t0 < 1.0
        busy.cancel()  # an abandoned request: its worker is stopped and replaced
        with pytest.raises(asyncio.CancelledError):
            await busy
        ins = await p.inspect(source, chat("fine"), "openai_api", 60)
        assert str(ins.decision.verdict) == "allow"
    finally:
        p.close()


class _Plain(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a: object) -> None:
        pass


CHAT_URL = "https://api.openai.com/v1/chat/completions"


def _one_worker_replica(
    home: Path, upstreams: dict[str, int], ca: Path, run_args: list[str] | None = None
) -> ProxyProcess:
    """A replica with one general worker, no express lane and a 300 ms queue bound, warmed by a first request."""
    p = start_replica(
        home, upstreams, ca, run_args=run_args,
        extra=["--set", "phiwall_express_workers=0", "--set", "phiwall_queue_wait_ms=300"],
    )  # fmt: skip
    with httpx.Client(proxy=p.url, verify=_ctx(p), timeout=120, trust_env=False) as c:
        assert c.post(CHAT_URL, json=json.loads(chat("hello").raw_body)).status_code == 200
    return p


def _ctx(p: ProxyProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(p.ca))


def _occupy(p: ProxyProcess, into: dict[str, int]) -> threading.Thread:
    """Send a slow PHI check in the background (its status lands in `into`); return once it holds the worker."""

    def send_slow() -> None:
        with httpx.Client(proxy=p.url, verify=_ctx(p), timeout=120, trust_env=False) as c:
            into["status"] = c.post(CHAT_URL, json=json.loads(chat(slow_text()).raw_body)).status_code

    t = threading.Thread(target=send_slow)
    t.start()
    time.sleep(1.0)
    return t


def _quick(p: ProxyProcess) -> httpx.Response:
    with httpx.Client(proxy=p.url, verify=_ctx(p), timeout=30, trust_env=False) as c:
        return c.post(CHAT_URL, json=json.loads(chat("quick").raw_body))


def test_saturated_proxy_answers_503_quickly_while_unguarded_traffic_flows(
    tmp_path: Path, pki: tuple[Path, Path, Path], upstream_map: dict[str, int], fresh_upstream
) -> None:
    plain = ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    pport = plain.server_address[1]
    p = _one_worker_replica(tmp_path / "home", {**upstream_map, "127.0.0.1": pport}, pki[0])
    try:
        slow: dict[str, int] = {}
        t = _occupy(p, slow)
        t0 = time.monotonic()
        r = _quick(p)
        took = time.monotonic() - t0
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, (r.status_code, r.text)
        assert took < 1.5, took
        assert "busy" in r.text
        plain_times = []
        with httpx.Client(proxy=p.url, timeout=10, trust_env=False) as c:
            for _ in range(10):
                t1 = time.monotonic()
                assert c.get(f"http://127.0.0.1:{pport}/x").text == "ok"
                plain_times.append(time.monotonic() - t1)
        assert max(plain_times) < 0.5, plain_times
        assert t.is_alive() or slow, "the slow request should still be running or done"
        t.join(120)
        assert slow.get("status") in (200, 403)  # judged (PHI -> 403), not dropped
        ev = [e for e in p.audit_events() if "busy" in str(e.get("error", ""))]
        assert ev and ev[-1]["verdict"] == "block"
    finally:
        p.stop()
        plain.shutdown()


def test_on_overload_warn_forwards_uninspected_and_audits_it(
    tmp_path: Path, pki: tuple[Path, Path, Path], upstream_map: dict[str, int], fresh_upstream
) -> None:
    """A policy may prefer availability: `on_overload: warn` forwards a request no worker could take in time,
    audited as a warned overload (rule on_overload), never silently."""
    policy = tmp_path / "busy-warn.yaml"
    policy.write_text(
        (Path(__file__).parents[2] / "policies" / "default.yaml")
        .read_text()
        .replace("on_overload: block", "on_overload: warn")
    )
    assert "on_overload: warn" in policy.read_text()
    p = _one_worker_replica(tmp_path / "home", upstream_map, pki[0], run_args=["--policy", str(policy)])
    try:
        t = _occupy(p, {})
        fresh_upstream.clear()
        r = _quick(p)
        assert r.status_code == 200 and "retry-after" not in r.headers, (r.status_code, r.text)
        assert any(b"quick" in req.body for req in fresh_upstream.requests)
        ev = [e for e in p.audit_events() if "on_overload" in e.get("rule_ids", ())]
        assert ev and ev[-1]["verdict"] == "warn", ev
        t.join(120)
    finally:
        p.stop()


def test_a_request_whose_client_left_is_cancelled_and_not_audited_as_allow(
    tmp_path: Path, pki: tuple[Path, Path, Path], upstream_map: dict[str, int], fresh_upstream
) -> None:
    """The client sends a slow (benign, so it would be allowed) chat request and hangs up while it is inspected:
    the inspection is cancelled, `request_abandoned` is audited, no allow, and nothing reaches the service."""
    p = start_replica(tmp_path / "home", upstream_map, pki[0], extra=["--set", "phiwall_express_workers=0"])
    try:
        ctx = ssl.create_default_context(cafile=str(p.ca))
        with httpx.Client(proxy=p.url, verify=ctx, timeout=120, trust_env=False) as c:  # warm
            assert c.post("https://api.openai.com/v1/chat/completions",
                          json=json.loads(chat("hello").raw_body)).status_code == 200  # fmt: skip
        fresh_upstream.clear()
        msg = [{"role": "user", "content": "The weather is mild. " * 18000}]
        body = json.dumps({"model": "gpt-4o", "messages": msg})
        req = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n{body}"
        ).encode()
        p.raw_https("api.openai.com", req, then=1.0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(e.get("event") == "request_abandoned" for e in p.audit_events()):
            time.sleep(0.3)
        events = p.audit_events()
        assert any(e.get("event") == "request_abandoned" for e in events), events[-3:]
        time.sleep(3)
        gone = next(e["flow_id"] for e in events if e.get("event") == "request_abandoned")
        same = [e for e in p.audit_events() if e.get("flow_id") == gone and e.get("event") == "inspection"]
        assert not same, same  # never audited as allow (nor as anything else: it was never judged)
        assert not fresh_upstream.requests
    finally:
        p.stop()
