"""text_phi: each custom recognizer, the core Presidio entities, benign medical questions, and no value leaks.

Values are synthetic. SSNs avoid the well-known fakes Presidio rejects (078-05-1120, 123-45-6789).
"""

from __future__ import annotations

import pytest
from phiwall.detectors import phi_recognizers as pr
from phiwall.detectors.text_phi import TextPhiDetector
from phiwall.detectors.text_phi import build
from phiwall.detectors.text_phi import split_chunks
from phiwall.errors import PolicyError
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind


def _part(text: str) -> Part:
    return Part(id="p1", kind=PartKind.TEXT, locator=Locator("body"), text=text)


def _found(detector: TextPhiDetector, text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in detector.detect(_part(text)):
        assert f.start is not None and f.end is not None
        out.setdefault(f.entity, set()).add(text[f.start : f.end])
    return out


# --- pure checks: no spaCy model needed --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1234567893", True), ("1234567890", False), ("2000000008", False), ("3234567893", False)],
)
def test_npi_checksum(value: str, ok: bool) -> None:
    assert pr.npi_ok(value) is ok


@pytest.mark.parametrize(("value", "ok"), [("AB1234563", True), ("AB1234564", False), ("BX7654329", True)])
def test_dea_checksum(value: str, ok: bool) -> None:
    assert pr.dea_ok(value) is ok


@pytest.mark.parametrize("size", [10, 100, 3000])
def test_split_chunks_round_trips(size: int) -> None:
    text = ("line one with words\n" * 300) + "x" * 5000
    chunks = split_chunks(text, size)
    assert "".join(chunks) == text
    assert all(len(c) <= size for c in chunks)


@pytest.mark.parametrize(
    "options",
    [{"bogus": 1}, {"score_threshold": 2}, {"entities": ["NOT_AN_ENTITY"]}, {"language": "de"}, {"allow_list": "x"}],
)
def test_bad_options_are_policy_errors(options: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        TextPhiDetector(options)


# --- with the offline spaCy model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector() -> TextPhiDetector:
    return build({})


CUSTOM_CASES = [
    ("MRN: 4839201, seen in clinic", "MRN", "4839201"),
    ("medical record number 00-483-921 on file", "MRN", "00-483-921"),
    ("CT chest, accession # A2398112 pending", "ACCESSION_NUMBER", "A2398112"),
    ("Pt DOB 03/14/1961 presents with cough", "DATE_OF_BIRTH", "03/14/1961"),
    ("date of birth: March 4, 1950", "DATE_OF_BIRTH", "March 4, 1950"),
    ("98 yo gentleman s/p NSTEMI", "AGE_OVER_89", "98"),
    ("She is a 102-year-old woman", "AGE_OVER_89", "102"),
    ("Lives at 12 Oak Street, Springfield, MA 01103 now", "STREET_ADDRESS", "12 Oak Street, Springfield, MA 01103"),
    ("Send to 4410 North Lake Shore Dr. Apt 5B", "STREET_ADDRESS", "4410 North Lake Shore Dr. Apt 5B"),
    ("Springfield, MA 01103", "ZIP_CODE", "01103"),
    ("Referring NPI 1234567893", "NPI", "1234567893"),
    ("Prescriber DEA AB1234563", "DEA", "AB1234563"),
    ("Member ID: XZ12345678", "HEALTH_PLAN_ID", "XZ12345678"),
    ("Medicare MBI 1EG4TE5MK73 on the card", "HEALTH_PLAN_ID", "1EG4TE5MK73"),
    ("billing account # 99812345", "ACCOUNT_NUMBER", "99812345"),
    ("Dr. holden aware of the low urine output", "PERSON", "holden"),
    ("HERMAN W. EMPERATRICE, RRT", "PERSON", "HERMAN W. EMPERATRICE"),
    ("husband jim at bedside", "PERSON", "jim"),
    ("readmitted to CCU 9/29 from cath lab", "DATE_TIME", "9/29"),
    ("Pager #12345 for questions", "PHONE_NUMBER", "12345"),
]


@pytest.mark.nlp
@pytest.mark.parametrize(("text", "entity", "value"), CUSTOM_CASES)
def test_custom_recognizers(detector: TextPhiDetector, text: str, entity: str, value: str) -> None:
    assert value in _found(detector, text).get(entity, set())


CORE_CASES = [
    ("My neighbour John Smith called", "PERSON", "John Smith"),
    ("She moved to Seattle last year", "LOCATION", "Seattle"),
    ("Seen on March 3, 2021 for follow-up", "DATE_TIME", "March 3, 2021"),
    ("SSN 536-22-8109 on the form", "US_SSN", "536-22-8109"),
    ("Call me at (617) 555-0143 tomorrow", "PHONE_NUMBER", "(617) 555-0143"),
    ("email jane.doe@example.org please", "EMAIL_ADDRESS", "jane.doe@example.org"),
    ("from host 192.168.10.24 today", "IP_ADDRESS", "192.168.10.24"),
    ("see https://portal.example.com/records/77", "URL", "https://portal.example.com/records/77"),
    ("card 4111 1111 1111 1111 exp 09/27", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("IBAN GB82 WEST 1234 5698 7654 32 for refunds", "IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
]


@pytest.mark.nlp
@pytest.mark.parametrize(("text", "entity", "value"), CORE_CASES)
def test_core_entities(detector: TextPhiDetector, text: str, entity: str, value: str) -> None:
    assert value in _found(detector, text).get(entity, set())


BENIGN = [
    "What does a TSH of 6.2 mean?",
    "Is Parkinson's disease hereditary?",
    "What are the treatments for Hodgkin lymphoma?",
    "How is Crohn's disease different from ulcerative colitis?",
    "Can Graves disease cause weight loss?",
    "Is a BP of 120/80 normal for a 45 year old?",
    "Should I take 1/2 tablet of metoprolol if my pulse is 55?",
    "What is Bell's palsy and how long does it last?",
]


@pytest.mark.nlp
@pytest.mark.parametrize("text", BENIGN)
def test_benign_medical_questions_have_no_person(detector: TextPhiDetector, text: str) -> None:
    found = _found(detector, text)
    assert "PERSON" not in found, found


@pytest.mark.nlp
def test_findings_never_carry_the_value(detector: TextPhiDetector) -> None:
    text = "Patient Maria Gonzalez, DOB 04/17/1958, MRN 00483921, SSN 536-22-8109, phone (617) 555-0143."
    findings = detector.detect(_part(text))
    assert {"PERSON", "DATE_OF_BIRTH", "MRN", "US_SSN", "PHONE_NUMBER"} <= {f.entity for f in findings}
    for f in findings:
        blob = repr(f) + f.explanation + (f.digest or "")
        for secret in ("Maria", "Gonzalez", "04/17/1958", "00483921", "536-22-8109", "555-0143"):
            assert secret not in blob
        assert f.digest and len(f.digest) == 16
        assert f.detector == "text_phi" and f.part_id == "p1"


@pytest.mark.nlp
def test_options_restrict_allow_and_deny(detector: TextPhiDetector) -> None:
    text = "Dr. Zorblat saw patient Quentin Marsh, MRN 4839201, about Huntington chorea."
    only_mrn = TextPhiDetector({"entities": ["MRN"]})
    assert {f.entity for f in only_mrn.detect(_part(text))} == {"MRN"}
    allowing = TextPhiDetector({"allow_list": ["zorblat"]})
    assert "Zorblat" not in _found(allowing, text).get("PERSON", set())
    denying = TextPhiDetector({"deny_list": ["Huntington"], "entities": ["MRN"]})
    assert "Huntington" in _found(denying, text).get("PERSON", set())
    mapped = TextPhiDetector({"deny_list": {"LOCATION": ["Ward 7B"]}, "entities": ["MRN"]})
    assert {f.entity for f in mapped.detect(_part("moved to ward 7b today"))} == {"LOCATION"}


@pytest.mark.nlp
def test_long_text_offsets_survive_chunking(detector: TextPhiDetector) -> None:
    filler = "Vitals stable, tolerating diet, ambulating in hall with PT.\n" * 250
    text = filler + "MRN: 4839201\n" + filler + "SSN 536-22-8109\n"
    found = _found(detector, text)
    assert found["MRN"] == {"4839201"}
    assert found["US_SSN"] == {"536-22-8109"}


@pytest.mark.nlp
def test_non_text_and_empty_parts(detector: TextPhiDetector) -> None:
    assert detector.detect(Part(id="f", kind=PartKind.FILE, locator=Locator("body"), data=b"MRN 4839201")) == []
    assert detector.detect(_part("")) == []
