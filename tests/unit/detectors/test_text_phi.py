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


# --- context patterns added for recall (each with look-alikes that must stay clean) -------------------------------

NEW_PATTERN_CASES = [
    # facilities and wards
    ("PT WAS ADMITTED TO FREDERICK MEMORIAL FOR VFIB", "LOCATION", "FREDERICK MEMORIAL"),
    ("admitted in transfer from Calvert Hospital for mental status changes", "LOCATION", "Calvert Hospital"),
    ("transfer to quartermain 2 today", "LOCATION", "quartermain"),
    ("PT SCREENED BY BALTIMORE REHAB FOR PLACEMENT", "LOCATION", "BALTIMORE REHAB"),
    # residence cues and city/state
    ("CONVERSATION WITH PT'S SON IN PIKESVILLE, THE DECISION WAS MADE", "LOCATION", "PIKESVILLE"),
    ("Her daughter lives in Fairhaven with two kids", "LOCATION", "Fairhaven"),
    ("Moved from Dunmore, Texas last year", "LOCATION", "Dunmore, Texas"),
    # street addresses, international and military
    ("Timotea lives on Via dei Fiorentini 17 street.", "STREET_ADDRESS", "Via dei Fiorentini 17"),
    ("Ship it to Strickstrasse 61 please", "STREET_ADDRESS", "Strickstrasse 61"),
    ("He lives on the north side of Joaquin Suarez 2906.", "STREET_ADDRESS", "Joaquin Suarez 2906"),
    ("Meet me at PSC 1437, Box 3833 APO AA 66791", "STREET_ADDRESS", "PSC 1437, Box 3833 APO AA 66791"),
    ("Apt. 050 on the third floor", "STREET_ADDRESS", "Apt. 050"),
    # dates
    ("PAN CULTURED X 2 8/15.  TYLENOL GIVEN", "DATE_TIME", "8/15"),
    ("s/p pelvic fx 4/97, right arm fx", "DATE_TIME", "4/97"),
    ("10-18-20 7A TO 1200 CSRU PROGRESS NOTE", "DATE_TIME", "10-18-20"),
    ("S/P CABG 1957 WITH REDO", "DATE_TIME", "1957"),
    ("prostate CA'88, GERD", "DATE_TIME", "'88"),
    ("follow-up on March 4th with the team", "DATE_TIME", "March 4th"),
    ("planned for the 4th of July weekend", "DATE_TIME", "4th of July"),
    # ages over 89
    ("92yoF with CHF exacerbation", "AGE_OVER_89", "92"),
    ("a 95 y/o M found down", "AGE_OVER_89", "95"),
    ("still active in her 90s", "AGE_OVER_89", "90s"),
    # phones
    ("Name: Emilie Broberg Phone: 0688 872 49 99", "PHONE_NUMBER", "0688 872 49 99"),
    ("updated on condition (301-152-9058)", "PHONE_NUMBER", "301-152-9058"),
    # names in shorthand
    ("DR. SPARKES AWARE OF K 5.9", "PERSON", "SPARKES"),
    ("METABOLIC ALK. DR.DISANGRO AWARE", "PERSON", "DISANGRO"),
    ("Dr. Hayes notified of the result", "PERSON", "Hayes"),
    ("Dr. Rakusin and Toolis aware.", "PERSON", "Toolis"),
    ("CONTINUES PER DR B. GILL ...", "PERSON", "B. GILL"),
    ("MVO2 55, NP Wolfe aware of numbers", "PERSON", "Wolfe"),
    ("stable overnight.\n   irene snell, rn  \n", "PERSON", "irene snell"),
]


@pytest.mark.nlp
@pytest.mark.parametrize(("text", "entity", "value"), NEW_PATTERN_CASES)
def test_new_context_patterns(detector: TextPhiDetector, text: str, entity: str, value: str) -> None:
    found = _found(detector, text)
    assert any(value in v or v in value for v in found.get(entity, set())), found


NEW_PATTERN_NEGATIVES = [
    ("Transferred to the outside hospital, then to rehab.", "LOCATION"),
    ("Transfer to MICU 2 and then to floor 6 tomorrow.", "LOCATION"),
    ("Weaned from CPAP to PSV; changed from morphine to percocet.", "LOCATION"),
    ("Decrease amio. Cont rehab.", "LOCATION"),
    ("SPOKE TO SON WHO LIVES IN FLORIDA.", "LOCATION"),  # a state alone is not PHI
    ("pt is vented via ett 7.5 23 at lip. uo via foley 50-90cc/hr", "STREET_ADDRESS"),
    ("RUE DVT WAS THERAPEUTIC ON 600 UNITS", "STREET_ADDRESS"),
    ("Continued to wean down to 10/5. Pain rating 3/10.", "DATE_TIME"),
    ("CPT DONE @ 1900. CALLED AT 2030.", "DATE_TIME"),
    ("Pt currently on BIPAP 10/5/12BPM", "DATE_TIME"),
    ("DEC 2 MG AND MAY NEED MORE", "DATE_TIME"),
    ("T 98 F axillary, 99.1 F oral", "AGE_OVER_89"),
    ("sats in the 90s on 2L", "AGE_OVER_89"),
    ("Urine grew E. coli, sputum S. aureus per lab", "PERSON"),
    ("Call 911 if chest pain. Phone the clinic.", "PHONE_NUMBER"),
    ("Dr. aware and will follow; husband visited.", "PERSON"),
    ("Send to 4410 North Lake Shore Dr. Apt 5B", "PERSON"),
    ("sats 95-98% on 2L NC. Tolerating diet.", "STREET_ADDRESS"),
]


@pytest.mark.nlp
@pytest.mark.parametrize(("text", "entity"), NEW_PATTERN_NEGATIVES)
def test_new_patterns_leave_look_alikes(detector: TextPhiDetector, text: str, entity: str) -> None:
    found = _found(detector, text)
    assert entity not in found, found


@pytest.mark.parametrize(
    ("word", "stems", "blocked"),
    [("sparkes", {"spark"}, False), ("hayes", {"hay"}, False), ("boxes", {"box"}, True), ("called", {"call"}, True)],
)
def test_name_gate_inflections(word: str, stems: set[str], blocked: bool) -> None:
    assert pr.NameGate(stems).could_be_name(word) is not blocked


def test_balanced_groups_keep_order() -> None:
    from phiwall.detectors.text_phi import _balanced_groups

    chunks = [str(i) * (i + 1) for i in range(9)]
    groups = _balanced_groups(chunks, 2)
    assert len(groups) == 2 and [c for g in groups for c in g] == chunks


# ------------------------------------------------------------------------------------------- rule prefilters
def test_street_tail_literals_are_exactly_the_pattern_words() -> None:
    import regex

    words = pr._STREET_TAIL_WORDS
    assert {"strasse", "straße".casefold(), "vägen", "vagen", "gatan", "weg"} <= set(words)
    for w in words:
        assert regex.fullmatch(f"(?i:{pr._STREET_TAIL})", w, regex.VERSION1), w


# fmt: off
PREFILTERED = [
    ("compound_street_number", "Ship it to Strickstrasse 61 please"),
    ("compound_street_number", "Adresse: STRÖMGATAN 4, Lund"),
    ("compound_street_number", "Nybyvägen 65"),
    ("compound_street_number", "bor på Kirkevej. 7"),
    ("name_then_relation", "Mary Jones (daughter) called"),
    ("name_then_relation", "spoke with Ann Lee - wife"),
    ("us_formatted", "call (617) 555-0134 tonight"),
    ("us_formatted", "+1 617.555.0134"),
]
# fmt: on


@pytest.mark.parametrize("rule_name,text", PREFILTERED)
def test_a_prefilter_never_hides_a_match(rule_name: str, text: str) -> None:
    """A prefilter is a necessary condition: whenever the rule's regex matches, the prefilter must say yes,
    and on text without a candidate it says no (which is the point)."""
    rules = {r.name: r for r in (*pr.STREET_RULES, *pr.PHONE_RULES, *pr.person_rules(pr.NameGate()))}
    rule = rules[rule_name]
    assert rule.prefilter is not None
    assert rule.regex.search(text), "the example must match the rule"
    assert rule.prefilter(text)
    assert not rule.prefilter("Page 3 line 12: follow-up visit, vitals stable, medication unchanged")
