# ruff: noqa: E501  (YAML snippets in tables read best on one line)
"""Policy evaluation: context and evidence matchers, per-entity thresholds, audited exceptions, terms."""

from __future__ import annotations

import pytest
from phiwall.identity import Requester
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.model import Verdict
from phiwall.policy import Policy
from phiwall.policy import parse_policy_text
from phiwall.request import Who


def policy(text: str) -> Policy:
    return Policy(parse_policy_text("version: 1\nid: t\n" + text, "<test>"))


TEXT = Part("p0", PartKind.TEXT, Locator("json", ("messages", 0, "content")), text="x")
DCM = Part("p1", PartKind.FILE, Locator("multipart", ("file",)), data=b"x", media_type="application/dicom")
ZIP = Part("p2", PartKind.FILE, Locator("multipart", ("file",)), data=b"x", media_type="application/zip")
MEMBER = Part("p3", PartKind.FILE, Locator("archive", ("study/IM1.dcm",)), data=b"x", media_type="application/dicom",
              parent_id="p2")  # fmt: skip


def env(*parts: Part, service: str = "openai_api", kind: EndpointKind = EndpointKind.CHAT) -> Envelope:
    return Envelope(service, "chat.completions", kind, parts)


def f(entity: str, part: str = "p0", score: float = 1.0, **kw: object) -> Finding:
    return Finding("test", entity, part, score, **kw)  # type: ignore[arg-type]


def test_per_entity_threshold_drops_weak_findings_for_every_rule() -> None:
    p = policy(
        "thresholds: {PERSON: 0.8, 'BURNED_IN:*': 0.6}\nrules: [{id: r, action: block, when: {entities: [PERSON, 'BURNED_IN:*']}}]\n"
    )
    assert p.evaluate(env(TEXT), [f("PERSON", score=0.7)]).verdict == Verdict.ALLOW
    d = p.evaluate(env(TEXT), [f("PERSON", score=0.85), f("BURNED_IN:MRN", score=0.5)])
    assert d.verdict == Verdict.BLOCK and d.entity_counts() == {"PERSON": 1}  # the weak one is gone from the report


def test_min_count_and_min_score() -> None:
    p = policy("rules: [{id: r, action: warn, when: {entities: [PERSON], min_score: 0.5, min_count: 2}}]\n")
    assert p.evaluate(env(TEXT), [f("PERSON"), f("PERSON", score=0.4)]).verdict == Verdict.ALLOW
    assert p.evaluate(env(TEXT), [f("PERSON"), f("PERSON", score=0.6)]).verdict == Verdict.WARN


@pytest.mark.parametrize(
    "when,who,host,fires",
    [
        ("{clients: [10.20.0.0/16]}", Who(client="10.20.3.4"), None, True),
        ("{clients: [10.20.0.0/16]}", Who(client="::ffff:10.20.3.4"), None, True),
        ("{clients: [10.20.0.0/16]}", Who(client="10.21.0.1"), None, False),
        ("{clients: [10.20.0.0/16]}", Who(client=""), None, False),
        ("{users: ['dr.*']}", Who(user="dr.jones"), None, True),
        ("{users: ['dr.*']}", Who(user=None), None, False),
        ("{groups: [radiology, oncology]}", Who(user="a", groups=("oncology",)), None, True),
        ("{groups: [radiology]}", Who(user="a", groups=("students",)), None, False),
        ("{authenticated: false}", Who(), None, True),
        ("{authenticated: false}", Who(user="a"), None, False),
        ("{hosts: ['*.openai.azure.com']}", Who(), "health.openai.azure.com", True),
        ("{hosts: ['*.openai.azure.com']}", Requester(host="health.openai.azure.com"), None, True),
        ("{hosts: ['*.openai.azure.com']}", Who(), "api.openai.com", False),
        ("{hosts: ['*.openai.azure.com']}", Who(), None, False),
        ("{services: [chatgpt_web]}", Who(), None, False),
        ("{endpoints: [upload]}", Who(), None, False),
        ("{endpoint_names: ['chat.*']}", Who(), None, True),
    ],
)
def test_context_matchers(when: str, who: Who, host: str | None, fires: bool) -> None:
    p = policy(f"rules: [{{id: r, action: warn, when: {when}}}]\n")
    assert (p.evaluate(env(TEXT), [], who, host=host).verdict == Verdict.WARN) is fires


def test_dicom_conditions_use_attrs_and_fall_back_to_modality_and_burned_in_finding() -> None:
    p = policy(
        "rules:\n  - id: us-burned\n    when:\n      dicom: [{field: Modality, equals: US}, {field: BurnedInAnnotation, equals: 'YES'}]\n"
        "    action: block\n"
        "  - id: not-primary\n    when:\n      dicom: [{field: ImageType, notcontains: PRIMARY}]\n    action: warn\n"
    )
    e = env(DCM, kind=EndpointKind.UPLOAD)
    # Detector without attrs: Modality from `modality`, BurnedInAnnotation from the dedicated finding.
    fallback = [f("DICOM_FILE", "p1", modality="US"), f("DICOM_BURNED_IN_ANNOTATION", "p1")]
    d = p.evaluate(e, fallback)
    assert d.verdict == Verdict.BLOCK and set(d.rule_ids) == {"us-burned", "not-primary"}  # ImageType absent
    assert p.evaluate(e, [f("DICOM_FILE", "p1", modality="US")]).rule_ids == ("not-primary",)
    with_attrs = [f("DICOM_FILE", "p1", attrs=(("Modality", "US"), ("BurnedInAnnotation", "YES"),
                                               ("ImageType", "ORIGINAL\\PRIMARY")))]  # fmt: skip
    assert p.evaluate(e, with_attrs).rule_ids == ("us-burned",)
    identifying = [f("DICOM_FILE", "p1", attrs=(("PatientName", "US"),))]  # never read: not an allowed field
    assert p.evaluate(e, identifying).rule_ids == ("not-primary",)


def test_modality_path_and_container_matchers() -> None:
    p = policy(
        "rules:\n  - {id: ct, action: block, when: {modalities: [CT]}}\n"
        "  - {id: member, action: warn, when: {entities: [DICOM_FILE], paths: ['archive:*.dcm'], in_container: true}}\n"
    )
    e = env(ZIP, MEMBER, kind=EndpointKind.UPLOAD)
    d = p.evaluate(e, [f("DICOM_FILE", "p3", modality="MR")])
    assert d.rule_ids == ("member",)
    d = p.evaluate(e, [f("DICOM_FILE", "p2", modality="CT")])
    assert d.rule_ids == ("ct",)


def test_strictest_wins_and_messages_have_no_values() -> None:
    p = policy(
        "rules:\n  - {id: w, action: warn, when: {entities: [PERSON]}, message: 'saw {count} {entities} at {endpoint} ({policy})'}\n"
        "  - {id: b, action: block, when: {entities: [US_SSN]}}\n  - {id: a, action: allow}\n"
    )
    d = p.evaluate(env(TEXT), [f("PERSON"), f("US_SSN")])
    assert d.verdict == Verdict.BLOCK and d.rule_ids == ("b", "w", "a")
    assert [h.message for h in d.hits if h.rule_id == "w"] == ["saw 1 PERSON at chat.completions (t)"]


EXC = """rules:
  - {id: text, action: block, when: {entities: [PERSON]}}
  - {id: dicom, action: block, when: {entities: [DICOM_FILE]}}
exceptions:
  - id: staff
    reason: staff may proceed on text
    when: {groups: [staff], services: [openai_api]}
    rules: [text]
    max_verdict: warn
"""


def test_exception_caps_only_its_rules_and_is_recorded() -> None:
    p = policy(EXC)
    staff = Who(user="u", groups=("staff",))
    d = p.evaluate(env(TEXT), [f("PERSON")], staff)
    assert d.verdict == Verdict.WARN
    assert d.rule_ids == ("text", "exception:staff")
    assert d.reasons and "exception" not in d.reasons[0] or d.reasons
    # the same person, a DICOM file: the exception does not name that rule
    d = p.evaluate(env(TEXT, DCM), [f("PERSON"), f("DICOM_FILE", "p1")], staff)
    assert d.verdict == Verdict.BLOCK and "exception:staff" in d.rule_ids
    # someone else: no exception
    assert p.evaluate(env(TEXT), [f("PERSON")], Who(user="v", groups=("students",))).rule_ids == ("text",)
    # another service: no exception
    assert p.evaluate(env(TEXT, service="chatgpt_web"), [f("PERSON")], staff).verdict == Verdict.BLOCK


def test_exception_use_is_logged_without_values(caplog: pytest.LogCaptureFixture) -> None:
    p = policy(EXC)
    with caplog.at_level("INFO", logger="phiwall"):
        p.evaluate(env(TEXT), [f("PERSON")], Who(user="u", groups=("staff",)))
    assert "exception staff capped block to warn" in caplog.text


def test_terms_reach_the_text_detector_options() -> None:
    p = policy(
        "detectors: {text_phi: {options: {allow_list: [Wilson], deny_list: [Zed]}}}\n"
        "terms: {allow: [Parkinson, Wilson], deny: {MRN: [ABC-1]}}\n"
    )
    opts = p.detector_options()["text_phi"]
    assert opts["allow_list"] == ["Wilson", "Parkinson"]
    assert opts["deny_list"] == {"PERSON": ["Zed"], "MRN": ["ABC-1"]}
    assert "allow_list" not in policy("rules: []\n").detector_options()["text_phi"]


@pytest.mark.nlp
def test_allow_listed_eponym_and_deny_listed_term_through_the_real_detector() -> None:
    from phiwall.pipeline import Pipeline

    p = policy(
        "detectors: {dicom: {enabled: false}, medical_image: {enabled: false}}\n"
        "terms: {allow: [Kawasaki], deny: [Quixotl]}\n"
        "rules: [{id: r, action: block, when: {entities: [PERSON]}}]\n"
    )
    pipe = Pipeline(p)
    assert pipe.inspect_text("Is IVIG still first line in Kawasaki disease?").decision.verdict == Verdict.ALLOW
    assert pipe.inspect_text("Please summarise the visit of Quixotl today.").decision.rule_ids == ("r",)


IMG = Part("p4", PartKind.FILE, Locator("json", ("messages", 0, "content", 1, "image_url")), data=b"x",
           media_type="image/png")  # fmt: skip


@pytest.mark.parametrize(
    "when,findings,fires",
    [
        ("{detectors: [face], entities: [PERSON]}", [Finding("text_phi", "PERSON", "p0", 1.0)], False),
        ("{detectors: [text_phi], entities: [PERSON]}", [Finding("text_phi", "PERSON", "p0", 1.0)], True),
        ("{parts: [file], entities: [PERSON]}", [f("PERSON")], False),
        ("{parts: [file], entities: [PERSON]}", [f("PERSON", "p4")], True),
        ("{media_types: ['image/*']}", [f("MEDICAL_IMAGE", "p4")], True),
        ("{media_types: ['image/*']}", [f("DICOM_FILE", "p1")], False),
        ("{media_types: [application/dicom], entities: [DICOM_FILE]}", [f("DICOM_FILE", "p1")], True),
        ("{entities: ['DICOM_TAG:Patient*']}", [f("DICOM_TAG:PatientName", "p1")], True),
        ("{entities: ['DICOM_TAG:Patient*']}", [f("DICOM_TAG:StudyDate", "p1")], False),
        ("{in_container: false, entities: [DICOM_FILE]}", [f("DICOM_FILE", "p3")], False),
        ("{in_container: false, entities: [DICOM_FILE]}", [f("DICOM_FILE", "p1")], True),
        ("{paths: ['json:messages.*'], entities: [MEDICAL_IMAGE]}", [f("MEDICAL_IMAGE", "p4")], True),
        ("{modalities: [xray], entities: [MEDICAL_IMAGE]}", [f("MEDICAL_IMAGE", "p4", modality="XRAY")], True),
        ("{modalities: [xray], entities: [MEDICAL_IMAGE]}", [f("MEDICAL_IMAGE", "p4", modality="ct")], False),
        ("{entities: [MEDICAL_IMAGE], min_score: 0.8}", [f("MEDICAL_IMAGE", "p4", score=0.79)], False),
    ],
)
def test_evidence_matchers(when: str, findings: list[Finding], fires: bool) -> None:
    p = policy(f"rules: [{{id: r, action: block, when: {when}}}]\n")
    e = env(TEXT, DCM, ZIP, MEMBER, IMG, kind=EndpointKind.UPLOAD)
    assert (p.evaluate(e, findings).verdict == Verdict.BLOCK) is fires


@pytest.mark.parametrize(
    "condition,attrs,fires",
    [
        ("{field: Modality, equals: us}", (("Modality", "US"),), True),  # case-insensitive
        ("{field: Modality, notequals: US}", (("Modality", "CT"),), True),
        ("{field: Modality, notequals: US}", (("Modality", "US"),), False),
        ("{field: ImageType, contains: DERIVED}", (("ImageType", "DERIVED\\SECONDARY"),), True),
        ("{field: ImageType, contains: DERIVED}", (), False),
        ("{field: BodyPartExamined, present: true}", (("BodyPartExamined", "CHEST"),), True),
        ("{field: BodyPartExamined, present: true}", (("BodyPartExamined", ""),), False),  # empty counts as absent
        ("{field: BodyPartExamined, present: false}", (), True),
        ("{field: BurnedInAnnotation, equals: 'NO'}", (("BurnedInAnnotation", "NO"),), True),
    ],
)
def test_dicom_operators(condition: str, attrs: tuple[tuple[str, str], ...], fires: bool) -> None:
    p = policy(f"rules:\n  - id: r\n    when:\n      dicom: [{condition}]\n    action: block\n")
    d = p.evaluate(env(DCM, kind=EndpointKind.UPLOAD), [f("DICOM_FILE", "p1", attrs=attrs)])
    assert (d.verdict == Verdict.BLOCK) is fires


# -- the decision is a plan (action deidentify) --------------------------------------------------------------------

DEID = """rules:
  - id: names
    action: deidentify
    when: {entities: [PERSON, DATE_TIME]}
    with: {text: {operator: surrogate}}
  - id: scans
    action: deidentify
    when: {entities: [DICOM_FILE]}
    with: {dicom: {retain_uids: true}}
  - {id: ssn, action: block, when: {entities: [US_SSN]}}
  - {id: mrn, action: warn, when: {entities: [MRN]}}
"""


def test_deidentify_decision_carries_each_rules_findings_and_options() -> None:
    from phiwall.deid.options import DicomDeidOptions
    from phiwall.deid.options import TextDeidOptions

    p = policy(DEID)
    person, date, mrn, dcm = (
        f("PERSON", start=0, end=4),
        f("DATE_TIME", start=9, end=12),
        f("MRN"),
        f("DICOM_FILE", "p1"),
    )
    d = p.evaluate(env(TEXT, DCM), [person, date, mrn, dcm])
    assert d.verdict == Verdict.DEIDENTIFY
    assert d.rule_ids[:2] == ("names", "scans") and "mrn" in d.rule_ids
    assert [s.rule_id for s in d.plan] == ["names", "scans"]
    names, scans = d.plan
    assert names.findings == (person, date)  # only what that rule matched: the MRN is the warn rule's
    assert names.options.text == TextDeidOptions(operator="surrogate")
    assert names.options.dicom == DicomDeidOptions()  # a kind the rule left out keeps its defaults
    assert scans.findings == (dcm,) and scans.options.dicom.retain_uids is True
    assert "de-identified" in d.message and "Okafor" not in d.message
    # a stricter rule makes the plan moot, but the plan still says what deidentify would have done
    d = p.evaluate(env(TEXT), [person, f("US_SSN")])
    assert d.verdict == Verdict.BLOCK and [s.rule_id for s in d.plan] == ["names"]
    # nothing matched by a deidentify rule: no plan
    assert p.evaluate(env(TEXT), [mrn]).plan == ()


def test_exception_capping_a_deidentify_rule_removes_it_from_the_plan() -> None:
    p = policy(
        DEID
        + "exceptions:\n  - {id: x, reason: research team, rules: [names], max_verdict: warn, when: {groups: [r]}}\n"
    )
    d = p.evaluate(env(TEXT), [f("PERSON")], Who(user="u", groups=("r",)))
    assert d.verdict == Verdict.WARN and d.plan == ()
