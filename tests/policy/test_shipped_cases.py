"""Every shipped policy carries OPA-style cases; they all pass and together exercise every rule and exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from phiwall import policytest
from phiwall.cli import main

POLICIES = Path(__file__).parents[2] / "policies"
CASE_FILES = policytest.find_cases(POLICIES / "tests")


@pytest.fixture(scope="module")
def suites() -> dict[str, policytest.SuiteResult]:
    tester = policytest.PolicyTester()
    return {p.name: tester.run_file(p) for p in CASE_FILES}


def test_every_shipped_policy_has_cases() -> None:
    shipped = {p.stem for p in POLICIES.glob("*.yaml")}
    assert shipped == {"default", "personal", "hospital", "deidentify"}
    assert {p.name[: -len(".cases.yaml")] for p in CASE_FILES} == shipped


def test_shipped_cases_pass(suites: dict[str, policytest.SuiteResult]) -> None:
    problems = [
        f"{name}: {s.error or ''}" + "; ".join(f"{r.name}: {r.describe_failure()}" for r in s.failed)
        for name, s in suites.items()
        if s.error or s.failed
    ]
    assert not problems


def test_every_rule_and_exception_is_covered(suites: dict[str, policytest.SuiteResult]) -> None:
    assert {name: s.uncovered for name, s in suites.items() if s.uncovered} == {}
    assert all(len(s.rule_ids) >= 5 for s in suites.values())


def test_runner_reports_failure_and_missing_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    (tmp_path / "p.yaml").write_text(
        "id: p\nrules:\n  - {id: dicom, action: block, when: {entities: [DICOM_FILE]}}\n  - {id: never, action: warn,"
        " when: {entities: [FACE]}}\n"
    )
    (tmp_path / "p.cases.yaml").write_text(
        "cases:\n  - name: wrong_expectation\n    input: {parts: [{kind: file}], findings: [{entity: DICOM_FILE}]}\n"
        "    expect: {verdict: allow}\n"
    )
    rc = main(["policy", "test", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL p::wrong_expectation: expected allow, got block ['dicom'] (found: DICOM_FILE×1)" in out
    assert "coverage 1/2" in out and "not exercised by any case: never" in out


def test_bad_cases_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("id: p\n")
    (tmp_path / "p.cases.yaml").write_text("cases:\n  - name: x\n    input: {text: hi, servce: openai_api}\n"
                                           "    expect: {verdict: allow}\n")  # fmt: skip
    suite = policytest.PolicyTester().run_file(tmp_path / "p.cases.yaml")
    assert suite.error is not None and "cases.0.input.servce" in suite.error


def test_a_deidentify_expectation_is_tested_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    (tmp_path / "p.yaml").write_text(
        "id: p\nrules:\n  - {id: names, action: deidentify, when: {entities: [PERSON]},"
        " with: {text: {operator: mask}}}\n"
    )
    (tmp_path / "p.cases.yaml").write_text(
        "cases:\n  - name: name_is_deidentified\n    input: {parts: [{kind: text}], findings: [{entity: PERSON}]}\n"
        "    expect: {verdict: deidentify, rule_ids: [names]}\n"
        "  - name: wrong\n    input: {parts: [{kind: text}], findings: [{entity: PERSON}]}\n"
        "    expect: {verdict: block}\n"
    )
    rc = main(["policy", "test", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL p::wrong: expected block, got deidentify ['names'] (found: PERSON×1)" in out
    assert "name_is_deidentified" not in out.split("FAIL", 1)[1]
