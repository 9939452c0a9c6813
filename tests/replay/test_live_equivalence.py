"""Replay gives the verdicts the live proxy gives: 50 recorded requests go through a real `phiwall run` process
(fake chatbot servers on 127.0.0.1) and through `phiwall replay`; the verdicts and rule ids agree request by
request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from phiwall import replay as rp
from phiwall.policy import load_policy

from tests.replay.traffic import make_requests
from tests.replay.traffic import write_flows
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS
from tests.support.tls import make_test_pki

pytestmark = pytest.mark.e2e

POLICY = Path(__file__).parents[2] / "policies" / "hospital.yaml"


def test_replay_matches_live_proxy(tmp_path: Path) -> None:
    reqs = make_requests(50, seed=21, guarded_only=True)
    ca, cert, key = make_test_pki(tmp_path / "pki")
    with FakeUpstream(cert, key) as up:
        proxy = start_proxy(tmp_path / "home", {h: up.port for h in SERVICE_HOSTS}, ca, policy=POLICY)
        try:
            with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=60) as c:
                for r in reqs:
                    c.request(r.method, r.url, headers=r.headers, content=r.body)
            live = [e for e in proxy.audit_events() if e.get("event") == "inspection"]
        finally:
            proxy.stop()
    assert len(live) == len(reqs)
    write_flows(tmp_path / "t.mitm", reqs)
    replayed = rp.replay(rp.read_inputs([tmp_path / "t.mitm"]), rp.Replayer(load_policy(POLICY)))["requests"]
    got = [(r["method"], r["url"].split("://", 1)[1].split("/", 1)[1], r["verdict"], r["rule_ids"]) for r in replayed]
    want = [(e["method"], e["path"].lstrip("/"), e["verdict"], e["rule_ids"]) for e in live]
    assert got == want
    counts = {v: sum(1 for g in got if g[2] == v) for v in ("allow", "block")}
    assert counts["allow"] > 5 and counts["block"] > 5
