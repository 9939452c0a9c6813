"""Issue 13 item 6, policy side: `override: justify` on block rules (schema, evaluation, block message), and the
pipeline's handling of a justification (marker found only in the newest message, stripped, reason audited
PHI-free)."""

from __future__ import annotations

import json

import pytest
from phiwall import justify
from phiwall.errors import PolicyError
from phiwall.extractors import service_by_name
from phiwall.model import Verdict
from phiwall.pipeline import Pipeline
from phiwall.policy import Policy
from phiwall.policy import parse_policy_text
from phiwall.policy.jsonschema import policy_json_schema
from phiwall.request import RequestData
from phiwall.request import Who

from tests.policy.test_engine import DCM
from tests.policy.test_engine import TEXT
from tests.policy.test_engine import env
from tests.policy.test_engine import f

RULES = """
rules:
  - id: phi-text
    when: {parts: [text], entities: [PERSON, MRN]}
    action: block
    override: justify
  - id: dicom
    when: {entities: [DICOM_FILE]}
    action: block
  - id: dob-warn
    when: {entities: [DATE_OF_BIRTH]}
    action: warn
"""


def policy(text: str = RULES) -> Policy:
    return Policy(parse_policy_text("version: 1\nid: t\n" + text, "<test>"))


def test_override_is_off_by_default_and_only_for_block() -> None:
    p = policy("rules:\n  - id: r\n    when: {entities: [PERSON]}\n    action: block\n")
    assert p.rules[0].override == "none" and not p.justifiable
    d = p.evaluate(env(TEXT), [f("PERSON")], justified=True)
    assert d.verdict == Verdict.BLOCK and d.overridden == () and not d.justifiable
    assert "phiwall-justify" not in d.message
    with pytest.raises(PolicyError) as ei:
        policy("rules:\n  - id: r\n    when: {entities: [PERSON]}\n    action: warn\n    override: justify\n")
    assert "<test>:4: rules[0]" in str(ei.value) and "only applies to action block" in str(ei.value)
    with pytest.raises(PolicyError):
        policy("rules:\n  - id: r\n    when: {entities: [PERSON]}\n    action: block\n    override: always\n")


def test_json_schema_has_override() -> None:
    rule = policy_json_schema()["$defs"]["Rule"]["properties"]["override"]
    assert rule["enum"] == ["none", "justify"] and rule["default"] == "none"


def test_block_message_says_how_to_justify_only_when_every_block_allows_it() -> None:
    p = policy()
    d = p.evaluate(env(TEXT), [f("PERSON")])
    assert d.verdict == Verdict.BLOCK and d.justifiable and "#phiwall-justify:" in d.message
    both = p.evaluate(env(TEXT, DCM), [f("PERSON"), f("DICOM_FILE", "p1")])
    assert both.verdict == Verdict.BLOCK and not both.justifiable and "#phiwall-justify:" not in both.message


def test_justified_request_overrides_only_overridable_rules() -> None:
    p = policy()
    d = p.evaluate(env(TEXT), [f("PERSON")], justified=True)
    assert d.verdict == Verdict.ALLOW and d.overridden == ("phi-text",)
    warned = p.evaluate(env(TEXT), [f("PERSON"), f("DATE_OF_BIRTH")], justified=True)
    assert warned.verdict == Verdict.WARN and warned.overridden == ("phi-text",) and warned.rule_ids == ("dob-warn",)
    still = p.evaluate(env(TEXT, DCM), [f("PERSON"), f("DICOM_FILE", "p1")], justified=True)
    assert still.verdict == Verdict.BLOCK and still.rule_ids == ("dicom",)


def test_justified_request_is_still_deidentified() -> None:
    p = policy(RULES + "  - id: deid\n    when: {entities: [US_SSN]}\n    action: deidentify\n")
    d = p.evaluate(env(TEXT), [f("PERSON"), f("US_SSN")], justified=True)
    assert d.verdict == Verdict.DEIDENTIFY and d.overridden == ("phi-text",) and d.plan


PHI = "Patient John Smith, MRN 48213977, has a cough."


def _req(messages: list[dict], headers: tuple[tuple[str, str], ...] = ()) -> RequestData:
    body = json.dumps({"model": "gpt-4o", "messages": messages}).encode()
    return RequestData(
        method="POST",
        scheme="https",
        host="api.openai.com",
        port=443,
        path="/v1/chat/completions",
        headers=(("content-type", "application/json"), *headers),
        raw_body=body,
        who=Who(),
    )


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline(policy())


def _inspect(pipe: Pipeline, req: RequestData):  # type: ignore[no-untyped-def]
    return pipe.inspect_request(req, service_by_name("openai_api"))


def test_marker_in_newest_message_overrides_and_is_stripped(pipe: Pipeline) -> None:
    msg = "#phiwall-justify: synthetic test patient from the training set\n" + PHI
    ins = _inspect(pipe, _req([{"role": "system", "content": "Be brief."}, {"role": "user", "content": msg}]))
    assert ins.decision.verdict == Verdict.ALLOW and ins.decision.overridden == ("phi-text",)
    sent = json.loads(ins.rewritten)
    assert sent["messages"][1]["content"] == PHI and sent["messages"][0]["content"] == "Be brief."
    assert ins.justification == {
        "source": "message",
        "overridden": ["phi-text"],
        "length": len("synthetic test patient from the training set"),
        "reason": "synthetic test patient from the training set",
    }


def test_marker_in_an_older_message_justifies_nothing(pipe: Pipeline) -> None:
    old = "#phiwall-justify: synthetic data\nWhat is a cough?"
    ins = _inspect(pipe, _req([{"role": "user", "content": old}, {"role": "user", "content": PHI}]))
    assert ins.decision.verdict == Verdict.BLOCK and "#phiwall-justify:" in ins.decision.message


def test_empty_reason_justifies_nothing(pipe: Pipeline) -> None:
    ins = _inspect(pipe, _req([{"role": "user", "content": "#phiwall-justify:\n" + PHI}]))
    assert ins.decision.verdict == Verdict.BLOCK


def test_reason_with_phi_is_audited_as_a_digest(pipe: Pipeline) -> None:
    ins = _inspect(pipe, _req([{"role": "user", "content": PHI}], (("X-Phiwall-Justify", "Dr. Jane Miller said so"),)))
    assert ins.decision.verdict == Verdict.ALLOW and ins.rewritten is None  # nothing to strip from the body
    rec = ins.justification
    assert rec is not None and "reason" not in rec and "PERSON" in rec["reason_entities"]
    assert "Jane" not in json.dumps(rec) and len(rec["reason_digest"]) == 16


def test_long_reason_is_cut(pipe: Pipeline) -> None:
    long = "because " + "this is a synthetic record " * 30
    ins = _inspect(pipe, _req([{"role": "user", "content": PHI}], (("X-Phiwall-Justify", long),)))
    rec = ins.justification
    assert rec is not None and rec["truncated"] and len(rec["reason"]) == justify.MAX_REASON
