"""Acceptance: replay's report gives the verdicts the live proxy gives for the same requests. The 1,000 recorded
requests of the replay tests go through a real `phiwall run` process (the fake upstream answers each one with
the answer in the recording, so upload URLs and file ids are the same), and through `phiwall replay` of the HAR
and of the flow file; verdicts and rule ids agree request by request, and so do the report's counts.

Requests to hosts the proxy does not intercept are not sent (they would leave this machine: the proxy tunnels
them untouched); for those the test checks that the live proxy's own `allow_hosts` pattern leaves them alone,
which is what replay's `passthrough` stands for."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from phiwall.cli import main
from phiwall.extractors import allow_hosts_pattern

from tests.replay.conftest import Recordings
from tests.replay.traffic import SEQ_HEADER
from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded
from tests.support.proxy import start_proxy
from tests.support.tls import SERVICE_HOSTS
from tests.support.tls import make_test_pki

pytestmark = pytest.mark.e2e

POLICY = Path(__file__).parents[2] / "policies" / "hospital.yaml"


def test_replay_counts_equal_the_live_proxy_verdicts(
    recordings: Recordings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reqs = recordings.requests
    intercepted = re.compile(allow_hosts_pattern())
    sent = [i for i, r in enumerate(reqs) if intercepted.match(httpx.URL(r.url).host + ":443")]
    assert 800 < len(sent) < len(reqs)

    def answer(rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = reqs[int(rec.headers[SEQ_HEADER])].response
        return status, dict(headers), body

    ca, cert, key = make_test_pki(tmp_path / "pki")
    t0 = time.perf_counter()
    with FakeUpstream(cert, key) as up:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            up.route(method, "", answer)
        proxy = start_proxy(tmp_path / "home", {h: up.port for h in SERVICE_HOSTS}, ca, policy=POLICY, workers=2)
        try:
            with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=60) as c:
                for i in sent:
                    r = reqs[i]
                    c.request(r.method, r.url, headers=r.headers, content=r.body)
            live = [e for e in proxy.audit_events() if e.get("event") == "inspection"]
        finally:
            proxy.stop()
    live_s = time.perf_counter() - t0
    assert len(live) == len(sent)
    want = {i: (e["method"], e["path"], e["verdict"], e["rule_ids"]) for i, e in zip(sent, live, strict=True)}
    live_counts = Counter(e["verdict"] for e in live) + Counter({"passthrough": len(reqs) - len(sent)})
    assert live_counts["block"] > 100 and live_counts["allow"] > 100 and live_counts["warn"] == 0

    for name, path in (("har", recordings.har), ("flows", recordings.flows)):
        report = tmp_path / f"{name}.json"
        assert main(["replay", "--policy", str(POLICY), "--no-progress", "--report", str(report), str(path)]) == 0
        capsys.readouterr()
        doc = json.loads(report.read_text())
        rows = doc["requests"]
        assert len(rows) == len(reqs)
        got = {}
        for i, row in enumerate(rows):
            if i in want:
                got[i] = (row["method"], "/" + row["url"].split("://", 1)[1].split("/", 1)[1], row["verdict"],
                          row["rule_ids"])  # fmt: skip
            else:
                assert row["verdict"] == "passthrough", row
        # The live audit digests path segments no endpoint table names (keyed with the proxy's own secret, e.g.
        # ChatGPT's `/files/<id>/uploaded`): such a segment matches whatever the recording has there.
        got = {i: (m, _as_audited(p, want[i][1]), v, r) for i, (m, p, v, r) in got.items()}
        assert got == want, name
        assert doc["totals"]["by_verdict"] == dict(sorted((+live_counts).items())), name
    print(f"live proxy: {len(sent)} requests in {live_s:.1f} s")


def _as_audited(path: str, audited: str) -> str:
    """`path` with the segments the audit digested (`~…`) taken from the audited form, when the rest agrees."""
    a, b = path.split("?", 1)[0].split("/"), audited.split("/")
    if len(a) != len(b):
        return path
    return "/".join(y if y.startswith("~") else x for x, y in zip(a, b, strict=True))
