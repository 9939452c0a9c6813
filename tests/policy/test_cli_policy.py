"""The `phiwall policy` commands as a person runs them: `check` prints every problem as file:line: field: message
with a fix hint and exits 1; `schema` prints the shipped JSON Schema; `test` runs the shipped cases (as CI does,
through the command) with coverage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from phiwall.cli import main

POLICIES = Path(__file__).parents[2] / "policies"


def test_check_accepts_the_shipped_policies(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(POLICIES / n) for n in ("default.yaml", "personal.yaml", "hospital.yaml", "deidentify.yaml")]
    assert main(["policy", "check", *files]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": OK")[0] for line in out] == files
    assert "OK (policy hospital, 10 rules)" in out[2]  # extends resolved: the default's rules plus its own


def test_check_prints_every_problem_with_file_line_field_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "mine.yaml"
    p.write_text(
        "version: 1\n"
        "id: mine\n"
        "rules:\n"
        "  - id: scans\n"
        "    when: {entites: [DICOM_FILE]}\n"  # 5: unknown key
        "    action: block\n"
        "  - id: names\n"
        "    when: {entities: [PATIENT_NAME], min_score: high}\n"  # 8: unknown entity, wrong type
        "    action: warn\n"
        "    message: 'saw {patient}'\n"  # 10: unknown placeholder
        "  - id: redact\n"
        "    when: {entities: [PERSON]}\n"
        "    action: deidentify\n"
        "    with: {text: {method: mask}}\n"  # 14: 'method' is not an option (it is 'operator')
    )
    assert main(["policy", "check", str(p)]) == 2  # invalid policy: usage status
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{p}:5: rules[0].when.entites: unknown key; check the spelling against docs/policy.md "
        "(or policies/policy.schema.json)",
        f"{p}:8: rules[1].when.entities: unknown entity 'PATIENT_NAME'; use one of the entity names in docs/policy.md "
        "(e.g. PERSON, MRN, DICOM_FILE, DICOM_TAG:PatientName, MEDICAL_IMAGE)",
        f"{p}:8: rules[1].when.min_score: expected a number (got 'high')",
        f"{p}:10: rules[1].message: unknown placeholder {{patient}} in message; available: {{found}}, {{rule}}, "
        "{service}, {action}, {count}, {entities}, {endpoint}, {policy}",
        f"{p}:14: rules[2].with.text.method: unknown key; check the spelling against docs/policy.md "
        "(or policies/policy.schema.json)",
    ]
    p.write_text(p.read_text().replace("entites", "entities").replace("PATIENT_NAME", "PERSON")
                 .replace("high", "0.8").replace("{patient}", "{found}").replace("method", "operator"))  # fmt: skip
    assert main(["policy", "check", str(p)]) == 0
    assert "OK (policy mine, 3 rules)" in capsys.readouterr().out


def test_check_names_the_broken_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "base.yaml").write_text("id: base\nrules:\n  - {id: a, action: nope}\n")
    (tmp_path / "child.yaml").write_text("id: child\nextends: base.yaml\n")
    assert main(["policy", "check", str(tmp_path / "child.yaml")]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{tmp_path / 'child.yaml'}:2: extends: the base policy 'base.yaml' is invalid:"
    assert re.match(rf"{re.escape(str(tmp_path / 'base.yaml'))}:3: rules\[0\]\.action: Input should be", out[1])


def test_schema_command_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((POLICIES / "policy.schema.json").read_text())


def test_policy_test_command_runs_the_shipped_cases_with_full_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What CI runs for the shipped policies: every case passes and every rule and exception is exercised."""
    monkeypatch.setenv("PHIWALL_HOME", str(tmp_path / "home"))
    assert main(["policy", "test", "--json", str(POLICIES)]) == 0
    suites = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(s["policy"] for s in suites) == ["default", "deidentify", "hospital", "personal"]
    for s in suites:
        assert s["error"] is None and s["failed"] == [] and s["uncovered"] == [], s
        assert len(s["passed"]) >= 8
