# ruff: noqa: E501  (YAML snippets in tables read best on one line)
"""Policy validation: every kind of mistake is rejected with file, line, field and a fix hint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from phiwall.errors import PolicyError
from phiwall.policy import load_policy
from phiwall.policy import parse_policy_text

HEAD = "version: 1\nid: t\n"

# fmt: off
BAD = [
    ("unknown_key", "rules:\n  - id: a\n    when: {entites: [PERSON]}\n    action: block\n",
     r"t\.yaml:5: rules\[0\]\.when\.entites: unknown key"),
    ("unknown_top_key", "rule:\n  - id: a\n", r"t\.yaml:3: rule: unknown key; check the spelling"),
    ("wrong_type_min_score", "rules:\n  - id: a\n    when: {min_score: high}\n    action: block\n",
     r"t\.yaml:5: rules\[0\]\.when\.min_score: expected a number \(got 'high'\)"),
    ("wrong_type_bool", "rules:\n  - id: a\n    when: {authenticated: maybe}\n    action: block\n",
     r"rules\[0\]\.when\.authenticated: expected true or false"),
    ("unknown_entity", "rules:\n  - id: a\n    when: {entities: [PATIENT_NAME]}\n    action: block\n",
     r"t\.yaml:5: rules\[0\]\.when\.entities: unknown entity 'PATIENT_NAME'"),
    ("unknown_placeholder", "rules:\n  - id: a\n    action: block\n    message: 'found {patient}'\n",
     r"t\.yaml:6: rules\[0\]\.message: unknown placeholder \{patient\} in message; available: \{found\}"),
    ("attribute_placeholder", "rules:\n  - id: a\n    action: block\n    message: '{found.__class__}'\n",
     r"unknown placeholder \{found\.__class__\}"),
    ("unbalanced_placeholder", "rules:\n  - id: a\n    action: block\n    message: 'found {found'\n",
     r"t\.yaml:6: rules\[0\]\.message: message is not a valid template"),
    ("missing_placeholder_name", "rules:\n  - id: a\n    action: block\n    message: 'found {} in the upload'\n",
     r"t\.yaml:6: rules\[0\]\.message: placeholder \{\} in message is missing its name; write one of: \{found\}"),
    ("positional_placeholder", "rules:\n  - id: a\n    action: warn\n    message: 'found {0}'\n",
     r"t\.yaml:6: rules\[0\]\.message: placeholder \{0\} in message is missing its name"),
    ("exception_message_placeholder",
     "exceptions:\n  - id: x\n    reason: because\n    max_verdict: warn\n    message: 'let {user} through'\n",
     r"t\.yaml:7: exceptions\[0\]\.message: unknown placeholder \{user\}"),
    ("wrong_type_list", "rules:\n  - id: a\n    when: {entities: 5}\n    action: block\n",
     r"t\.yaml:5: rules\[0\]\.when\.entities: expected a list, e\.g\. \[a, b\] \(got 5\)"),
    ("wrong_type_rules", "rules: {id: a, action: block}\n", r"t\.yaml:3: rules: expected a list"),
    ("wrong_type_on_error", "defaults: {on_error: maybe}\n",
     r"t\.yaml:3: defaults\.on_error: Input should be 'allow', 'warn' or 'block'"),
    ("unknown_detector_key", "detectors: {text_phi: {enable: false}}\n",
     r"t\.yaml:3: detectors\.text_phi\.enable: unknown key"),
    ("unknown_entity_glob", "rules:\n  - id: a\n    when: {entities: ['PATIENT_*']}\n    action: block\n",
     r"t\.yaml:5: rules\[0\]\.when\.entities: unknown entity 'PATIENT_\*'"),
    ("unknown_action", "rules:\n  - id: a\n    action: reject\n", r"rules\[0\]\.action: Input should be 'allow', 'warn'"),
    ("with_unknown_key",
     "rules:\n  - id: a\n    action: deidentify\n    with: {text: {method: mask}}\n",
     r"t\.yaml:6: rules\[0\]\.with\.text\.method: unknown key; check the spelling"),
    ("with_unknown_operator",
     "rules:\n  - id: a\n    action: deidentify\n    with: {text: {operator: shuffle}}\n",
     r"t\.yaml:6: rules\[0\]\.with\.text\.operator: Input should be 'pseudonym', 'surrogate'"),
    ("with_text_entity_not_text",
     "rules:\n  - id: a\n    action: deidentify\n    with: {text: {entities: [DICOM_FILE]}}\n",
     r"t\.yaml:6: rules\[0\]\.with\.text: with\.text\.entities: 'DICOM_FILE' is not a text entity"),
    ("with_dicom_wrong_type",
     "rules:\n  - id: a\n    action: deidentify\n    with: {dicom: {retain_uids: maybe}}\n",
     r"t\.yaml:6: rules\[0\]\.with\.dicom\.retain_uids: expected true or false"),
    ("with_unknown_kind",
     "rules:\n  - id: a\n    action: deidentify\n    with: {audio: {}}\n",
     r"t\.yaml:6: rules\[0\]\.with\.audio: unknown key"),
    ("with_on_block", "rules:\n  - id: a\n    action: block\n    with: {text: {operator: mask}}\n",
     r"'with' options only apply to action deidentify"),
    ("bad_cidr", "rules:\n  - id: a\n    when: {clients: [10.0.0.0/33]}\n    action: block\n",
     r"rules\[0\]\.when\.clients\.0: Value error, '10\.0\.0\.0/33' is not an IP address or CIDR|not an IP address or CIDR"),
    ("dicom_two_operators",
     "rules:\n  - id: a\n    when:\n      dicom: [{field: Modality, equals: US, contains: U}]\n    action: block\n",
     r"rules\[0\]\.when\.dicom\[0\]: a dicom condition needs exactly one of"),
    ("dicom_identifying_field",
     "rules:\n  - id: a\n    when:\n      dicom: [{field: PatientName, present: true}]\n    action: block\n",
     r"rules\[0\]\.when\.dicom\[0\]\.field: Input should be 'Modality'"),
    ("unknown_service", "rules:\n  - id: a\n    when: {services: [chatgpt]}\n    action: block\n",
     r"unknown service 'chatgpt'; known services:"),
    ("duplicate_rule", "rules:\n  - id: a\n    action: block\n  - id: a\n    action: warn\n",
     r"rule id 'a' is used twice"),
    ("exception_unknown_rule",
     "rules:\n  - id: a\n    action: block\nexceptions:\n  - id: x\n    reason: because\n    rules: [b]\n"
     "    max_verdict: warn\n", r"t\.yaml:9: exceptions\[0\]\.rules: exception 'x' names rule 'b'"),
    ("exception_without_reason", "exceptions:\n  - id: x\n    max_verdict: warn\n",
     r"exceptions\[0\]\.reason: required field is missing"),
    ("exception_raising_verdict", "exceptions:\n  - id: x\n    reason: because\n    max_verdict: block\n",
     r"exceptions\[0\]\.max_verdict: Input should be 'allow' or 'warn'"),
    ("threshold_unknown_entity", "thresholds: {PERSN: 0.8}\n", r"unknown entity 'PERSN' in thresholds"),
    ("threshold_out_of_range", "thresholds: {PERSON: 1.5}\n", r"thresholds\.PERSON: Input should be less than or equal to 1"),
    ("deny_entity_not_text", "terms: {deny: {DICOM_FILE: [x]}}\n", r"deny-list entity 'DICOM_FILE' is not a text entity"),
    ("unknown_detector", "detectors: {ocr: {}}\n", r"t\.yaml:3: detectors\.ocr: unknown detector"),
    ("bad_size", "defaults: {max_body_bytes: lots}\n", r"defaults\.max_body_bytes: expected a size such as 50MiB"),
    ("duplicate_key", "rules: []\nrules: []\n", r"t\.yaml:4: rules: duplicate key"),
]
# fmt: on


@pytest.mark.parametrize("body,err", [(b, e) for _, b, e in BAD], ids=[n for n, _, _ in BAD])
def test_bad_policy_is_rejected_with_location(tmp_path: Path, body: str, err: str) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(HEAD + body)
    with pytest.raises(PolicyError, match=err) as e:
        load_policy(p)
    # every problem names the file, a line number and the field
    assert all(re.match(rf"{re.escape(str(p))}:\d+: \S+: \S", line) for line in str(e.value).splitlines()), e.value


def test_every_problem_is_listed(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(HEAD + "rules:\n  - id: a\n    when: {entities: [NOPE], min_count: 0}\n    action: block\n  - id: B\n")
    with pytest.raises(PolicyError) as e:
        load_policy(p)
    lines = str(e.value).splitlines()
    assert len(lines) >= 4  # unknown entity, min_count, bad id, missing action
    assert all(line.startswith(str(p) + ":") for line in lines)


# -- extends ------------------------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_extends_merges_rules_defaults_terms_and_disable(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "base.yaml",
        "id: base\ndefaults: {on_error: block, timeout_seconds: 5}\nterms: {allow: [Parkinson]}\n"
        "rules:\n  - {id: a, action: block, when: {entities: [PERSON]}}\n"
        "  - {id: b, action: block, when: {entities: [MRN]}}\n  - {id: c, action: warn}\n",
    )
    child = _write(
        tmp_path,
        "child.yaml",
        "id: child\nextends: base.yaml\ndefaults: {on_error: warn}\ndisable: [c]\nterms: {allow: [Hodgkin]}\n"
        "rules:\n  - {id: b, action: warn, when: {entities: [MRN]}}\n  - {id: d, action: block}\n",
    )
    src = load_policy(child)
    m = src.model
    assert [(r.id, r.action) for r in m.rules] == [("a", "block"), ("b", "warn"), ("d", "block")]
    assert m.defaults.on_error == "warn" and m.defaults.timeout_seconds == 5
    assert m.terms.allow == ["Parkinson", "Hodgkin"]
    assert src.bases == (str((tmp_path / "base.yaml").resolve()),)


def test_changed_base_changes_the_policy_digest(tmp_path: Path) -> None:
    base = _write(tmp_path, "base.yaml", "id: base\nrules: [{id: a, action: block}]\n")
    child = _write(tmp_path, "child.yaml", "id: child\nextends: base.yaml\n")
    before = load_policy(child).sha256
    base.write_text("id: base\nrules: [{id: a, action: warn}]\n")
    assert load_policy(child).sha256 != before


def test_extends_builtin_default() -> None:
    src = parse_policy_text("id: x\nextends: builtin:default\nrules: [{id: extra, action: warn}]\n", "<test>")
    assert [r.id for r in src.model.rules][-1] == "extra" and "dicom-file" in {r.id for r in src.model.rules}


# fmt: off
BAD_EXTENDS = [
    ("missing_file", {"child.yaml": "id: c\nextends: nowhere.yaml\n"},
     r"child\.yaml:2: extends: cannot read base policy 'nowhere\.yaml' \(No such file or directory\)"),
    ("cycle", {"child.yaml": "id: c\nextends: base.yaml\n", "base.yaml": "id: b\nextends: child.yaml\n"},
     r"extends this policy again \(a cycle\)"),
    ("invalid_base", {"child.yaml": "id: c\nextends: base.yaml\n", "base.yaml": "id: b\nrules: [{id: a, action: nope}]\n"},
     r"(?s)child\.yaml:2: extends: the base policy 'base\.yaml' is invalid:.*base\.yaml:2: rules\[0\]\.action"),
    ("unknown_builtin", {"child.yaml": "id: c\nextends: builtin:strict\n"}, r"unknown built-in policy 'builtin:strict'"),
    ("disable_unknown", {"child.yaml": "id: c\nextends: base.yaml\ndisable: [zz]\n", "base.yaml": "id: b\n"},
     r"child\.yaml:3: disable\[0\]: rule 'zz' is not in the base policy"),
]
# fmt: on


@pytest.mark.parametrize("files,err", [(f, e) for _, f, e in BAD_EXTENDS], ids=[n for n, _, _ in BAD_EXTENDS])
def test_broken_extends_is_rejected(tmp_path: Path, files: dict[str, str], err: str) -> None:
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises(PolicyError, match=err) as e:
        load_policy(tmp_path / "child.yaml")
    first, *rest = str(e.value).splitlines()
    assert first.startswith(f"{tmp_path / 'child.yaml'}:") and re.match(r".*child\.yaml:\d+: \S", first)
    assert all(re.match(r".*\.yaml:\d+: \S", line) for line in rest)  # a broken base: its own file and line


def test_schema_file_is_current() -> None:
    """policies/policy.schema.json is generated from the pydantic models: regenerate with `phiwall policy schema`."""
    import json

    from phiwall.policy.jsonschema import policy_json_schema

    shipped = json.loads((Path(__file__).parents[2] / "policies" / "policy.schema.json").read_text())
    assert shipped == policy_json_schema()
    assert "exceptions" in shipped["properties"] and shipped["additionalProperties"] is False


def test_schema_validates_shipped_policies_like_the_loader() -> None:
    """The JSON Schema accepts the shipped policies and rejects an unknown key, as the loader does."""
    jsonschema = pytest.importorskip("jsonschema")
    import json

    import yaml

    root = Path(__file__).parents[2] / "policies"
    schema = json.loads((root / "policy.schema.json").read_text())
    for name in ("default.yaml", "personal.yaml", "hospital.yaml", "deidentify.yaml"):
        jsonschema.validate(yaml.safe_load((root / name).read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "rulez": []}, schema)
