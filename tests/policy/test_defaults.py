# ruff: noqa: E501  (request literals read best on one line)
"""The policy's request-level defaults do what docs/policy.md says: `unknown_endpoint` for a guarded host's
endpoint phiwall has no shape for, `on_error` for a body it cannot inspect, `max_body_bytes` for a body too big
to inspect (through the addon, which answers 413 before inspecting)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.test import taddons
from mitmproxy.test import tflow
from mitmproxy.test import tutils
from phiwall.addon import PhiWall
from phiwall.pipeline import Pipeline
from phiwall.policy import Policy
from phiwall.policy import parse_policy_text
from phiwall.request import RequestData

FIXTURES = Path(__file__).parents[2] / "policies" / "tests" / "fixtures"
DICOM = (FIXTURES / "ct_identifiable.dcm").read_bytes()


def pipeline(defaults: str) -> Pipeline:
    text = (
        f"id: t\ndefaults: {{{defaults}}}\ndetectors: {{text_phi: {{enabled: false}}}}\n"
        "rules: [{id: dicom, action: block, when: {entities: [DICOM_FILE]}}]\n"
    )
    return Pipeline(Policy(parse_policy_text(text, "<t>")))


def post(path: str, body: bytes, ctype: str = "application/json") -> RequestData:
    return RequestData("POST", "https", "api.openai.com", 443, path, (("content-type", ctype),), body)


@pytest.mark.parametrize(
    "setting,verdict,rules",
    [("inspect", "block", ("dicom",)), ("block", "block", ("unknown_endpoint",)), ("allow", "allow", ("unknown_endpoint",))],
)  # fmt: skip
def test_unknown_endpoint(setting: str, verdict: str, rules: tuple[str, ...]) -> None:
    """A DICOM sent to an OpenAI path phiwall has no adapter shape for: inspected generically (and blocked by the
    DICOM rule), blocked unseen, or let through unseen, as the policy says."""
    ins = pipeline(f"unknown_endpoint: {setting}").inspect_request(
        post("/v1/brand-new-endpoint", DICOM, "application/dicom")
    )
    assert ins.endpoint == "generic"
    assert (str(ins.decision.verdict), ins.decision.rule_ids) == (verdict, rules)


@pytest.mark.parametrize("setting", ["block", "warn", "allow"])
def test_on_error_decides_what_cannot_be_inspected(setting: str) -> None:
    ins = pipeline(f"on_error: {setting}").inspect_request(post("/v1/chat/completions", b'{"messages": ['))
    d = ins.decision
    assert (str(d.verdict), d.rule_ids) == (setting, ("on_error",))
    assert d.error and "not valid JSON" in d.error
    assert bool(d.reasons) is (setting != "allow")  # the person is told why, unless it simply passes


@pytest.mark.parametrize("setting", ["block", "warn", "allow"])
def test_an_adapter_crash_gets_the_on_error_decision(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 11b: an adapter bug (not a PhiWallError) must become the policy's on_error decision; it used
    to raise TypeError in the pipeline (`_failed` called without its kind) and reach the addon's catch-all."""
    from phiwall.extractors.openai_api import OpenAIAdapter

    def crash(self: object, req: object, body: bytes) -> None:
        raise RuntimeError("adapter bug quoting Margaret Okafor")

    monkeypatch.setattr(OpenAIAdapter, "extract", crash)
    d = pipeline(f"on_error: {setting}").inspect_request(post("/v1/chat/completions", b'{"messages": []}')).decision
    assert (str(d.verdict), d.rule_ids, d.error_kind) == (setting, ("on_error",), "internal")
    assert d.error == "internal error in the openai_api adapter (RuntimeError)"  # the type, never the message


async def test_max_body_bytes_answers_413_before_inspection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    pol = tmp_path / "p.yaml"
    pol.write_text("id: small\ndefaults: {max_body_bytes: 1KiB}\nrules: []\n")
    audit = tmp_path / "audit.jsonl"
    addon = PhiWall()
    with taddons.context(Proxyserver(), addon) as tctx:
        tctx.configure(addon, phiwall_policy=str(pol), phiwall_inline=True, phiwall_audit_file=str(audit))
        for size, status in ((1024, None), (1025, 413)):
            f = tflow.tflow(req=tutils.treq(host="api.openai.com", method=b"POST", scheme=b"https", port=443,
                                            path=b"/v1/chat/completions", headers=[(b"content-type", b"application/json")]))  # fmt: skip
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode()
            f.request.content = body + b" " * (size - len(body))
            addon.requestheaders(f)
            await addon.request(f)
            assert (f.response.status_code if f.response else None) == status
    ev = [json.loads(x) for x in audit.read_text().splitlines()][-1]
    assert (ev["verdict"], ev["rule_ids"]) == ("block", ["on_error"]) and "1024-byte limit" in ev["error"]
