"""text_phi: the ensemble on each entity family, benign medical questions, no value leaks, and the findings cache.

The recognizer classes are tested one by one in tests/unit/recognizers; here they run through the whole detector.

Values are synthetic. SSNs avoid the well-known fakes Presidio rejects (078-05-1120, 123-45-6789).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from phiwall.detectors import text_phi
from phiwall.detectors.findings_cache import MemoryBackend
from phiwall.detectors.text_phi import TextPhiDetector
from phiwall.detectors.text_phi import build
from phiwall.detectors.text_phi import segments
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


@pytest.mark.parametrize("size", [10, 100, 3000])
def test_split_chunks_round_trips(size: int) -> None:
    text = ("line one with words\n" * 300) + "x" * 5000
    chunks = split_chunks(text, size)
    assert "".join(chunks) == text
    assert all(len(c) <= size for c in chunks)


@pytest.mark.parametrize(
    "options",
    [
        {"bogus": 1},
        {"score_threshold": 2},
        {"entities": ["NOT_AN_ENTITY"]},
        {"language": "de"},
        {"allow_list": "x"},
        {"cache_entries": -1},
        {"cache_entries": True},
    ],
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


def test_balanced_groups_keep_order() -> None:
    from phiwall.detectors.text_phi import _balanced_groups

    chunks = [str(i) * (i + 1) for i in range(9)]
    groups = _balanced_groups(chunks, 2)
    assert len(groups) == 2 and [c for g in groups for c in g] == chunks


# --- history judged once: the findings cache -------------------------------------------------------------------

NOTE = "Patient Maria Gonzalez, DOB 04/17/1958, MRN 00483921.\n\nHusband Jim called from (617) 555-0143.\n\n"


def test_segments_round_trip_at_blank_lines() -> None:
    text = "a\n\nb c\n\n\nd"
    pieces = segments(text)
    assert "".join(s for _, s in pieces) == text
    assert [o for o, _ in pieces] == [0, 3, 8]
    assert all(text[o : o + len(s)] == s for o, s in pieces)


@pytest.mark.nlp
def test_same_text_is_analysed_once_and_findings_are_identical() -> None:
    cached = TextPhiDetector({}, cache_backend=MemoryBackend())
    plain = TextPhiDetector({"cache_entries": 0})
    first = cached.detect(_part(NOTE))
    n = len(segments(NOTE))  # each message (blank-line segment) is analysed on its own
    assert cached.analyses == n
    again = cached.detect(_part(NOTE))
    assert cached.analyses == n, "a second request with the same text must not be analysed again"
    assert again == first
    assert [(f.start, f.end, f.entity) for f in first] == [
        (f.start, f.end, f.entity) for f in plain.detect(_part(NOTE))
    ]
    assert {"PERSON", "DATE_OF_BIRTH", "MRN", "PHONE_NUMBER"} <= {f.entity for f in first}


@pytest.mark.nlp
def test_a_changed_character_is_analysed_and_a_grown_conversation_costs_its_new_message() -> None:
    d = TextPhiDetector({}, cache_backend=MemoryBackend())
    d.detect(_part(NOTE))
    changed = NOTE.replace("00483921", "00483922")
    findings = d.detect(_part(changed))
    assert d.analyses == len(segments(NOTE)) + 1, "only the segment with the changed character"
    assert changed[[f for f in findings if f.entity == "MRN"][0].start :].startswith("00483922")
    seen: list[str] = []
    original = d._analyze_spans

    def spy(text: str) -> list[tuple[int, int, str, float, str]]:
        seen.append(text)
        return original(text)

    d._analyze_spans = spy  # type: ignore[method-assign]
    newest = "Dr. Holden aware; daughter Ann will visit on 3/14."
    grown = changed + newest
    out = d.detect(_part(grown))
    assert seen == [newest], "only the new message is analysed"
    found = {grown[f.start : f.end] for f in out}
    assert {"Holden", "00483922"} <= found


@pytest.mark.nlp
def test_findings_cached_by_other_code_are_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Redis-shared cache outlives a replica: a phiwall with other recognizers or data must analyse again."""
    assert len(text_phi.code_fingerprint()) == 32
    backend = MemoryBackend()
    TextPhiDetector({}, cache_backend=backend).detect(_part(NOTE))
    monkeypatch.setattr(text_phi, "code_fingerprint", lambda: "0" * 32)  # as if a recognizer file had changed
    newer = TextPhiDetector({}, cache_backend=backend)
    newer.detect(_part(NOTE))
    assert newer.analyses == len(segments(NOTE))
    monkeypatch.undo()
    same = TextPhiDetector({}, cache_backend=backend)
    same.detect(_part(NOTE))
    assert same.analyses == 0


LONG_NOTE = (
    "Patient: Maria Gonzalez  DOB: 04/17/1958  MRN: 00483921\n"
    "Phone (617) 555-0143, SSN 536-22-8109, 42 Elm Street, Springfield, MA 01103. maria.g@example.org\n"
    "Neuro: alert and oriented x3. Dr. Holden aware of low UO; 250 ml NS bolus given on 3/14. "
    "Husband Jim in to visit from Worcester, updated by RN. Portal https://portal.example-clinic.org/p/8841, "
    "device at 10.20.30.40, NPI 1234567893, account no. 4410-2231. Plan: PT consult placed for 3/15.\n"
    "Resp: LS clear bilaterally, sats 95-98% on 2L NC. GI: tolerating clear liquids, abd soft, +BS.\n"
)


@pytest.mark.nlp
def test_pattern_side_pass_runs_beside_the_tagger_and_changes_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(LONG_NOTE) >= text_phi.SIDE_PASS_MIN_CHARS
    d = TextPhiDetector({"cache_entries": 0})
    threads: list[str] = []
    real = text_phi._side_pass

    def spy(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(text_phi, "_side_pass", spy)
    beside = [(r.start, r.end, r.entity_type, r.score) for r in d.analyze(LONG_NOTE)]
    assert threads and threads[0].startswith("phiwall-patterns"), "the pattern recognizers ran in the side thread"
    monkeypatch.setattr(text_phi, "SIDE_PASS_MIN_CHARS", 10**9)
    threads.clear()
    sequential = [(r.start, r.end, r.entity_type, r.score) for r in d.analyze(LONG_NOTE)]
    assert not threads
    assert beside == sequential
    entities = {entity for _, _, entity, _ in beside}
    assert {"PERSON", "MRN", "PHONE_NUMBER", "US_SSN", "EMAIL_ADDRESS", "URL", "IP_ADDRESS"} <= entities


@pytest.mark.nlp
def test_a_failing_pattern_recognizer_fails_the_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: an error in the side thread reaches the caller (on_error), never fewer findings."""
    d = TextPhiDetector({"cache_entries": 0})

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("recognizer failed")

    monkeypatch.setattr(text_phi, "_side_pass", broken)
    with pytest.raises(RuntimeError, match="recognizer failed"):
        d.analyze(LONG_NOTE)
    monkeypatch.undo()
    assert d.analyze(LONG_NOTE), "the engine works again afterwards"


ADDRESS_AND_NAME = "HR 80S SR WITH FREQUENT PVCS, VEA W/ OCC 3-5 BEAT RUNS VT. DR. POWELL AWARE. LYTES CHECKED."


@pytest.mark.nlp
def test_recognizers_run_most_trusted_first_in_registration_order() -> None:
    """Presidio hands recognizers out as a set (memory-address order); of two equal results only the first
    survives its de-duplication, so the order decides which source a finding is credited to."""
    d = TextPhiDetector({"cache_entries": 0})
    registry = d._engine.analyzer.registry
    got = registry.get_recognizers("en", d._entities)
    ranks = [text_phi._source_rank(r.name) for r in got]
    assert ranks == sorted(ranks, reverse=True) and ranks[-1] == 1  # the tagger's recognizer last
    same_rank = [registry.recognizers.index(r) for r in got if text_phi._source_rank(r.name) == 2]
    assert same_rank == sorted(same_rank)


@pytest.mark.nlp
def test_a_name_found_by_the_tagger_and_a_pattern_stays_whatever_the_memory_layout() -> None:
    """ "POWELL" is found by the tagger and the name cue with equal scores, inside a (wrong) address span; credited
    to the tagger it lost to the address, credited to the cue it stayed, and which one won depended on where
    the recognizer objects happened to sit in memory."""
    code = (
        "import sys\n"
        "junk = [object() for _ in range(int(sys.argv[1]))]\n"
        "from phiwall.detectors.text_phi import TextPhiDetector\n"
        "d = TextPhiDetector({'cache_entries': 0})\n"
        f"t = {ADDRESS_AND_NAME!r}\n"
        "print(sorted((r.entity_type, t[r.start:r.end]) for r in d.analyze(t)))\n"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True, text=True, timeout=120).stdout
        for n in (0, 7, 1000, 33333)
    }
    assert len(outs) == 1, outs
    assert "('PERSON', 'POWELL')" in outs.pop()


def test_memory_backend_is_bounded_in_entries_bytes_and_time() -> None:
    b = MemoryBackend(max_entries=3, max_bytes=200)
    for i in range(6):
        b.set(f"k{i}", b"x" * 10, 60)
    assert len(b) == 3 and [k for k, _ in b.items()] == ["k3", "k4", "k5"]
    b.set("big", b"y" * 150, 60)
    assert b.size_bytes <= 200
    b.set("huge", b"z" * 500, 60)
    assert b.get("huge") is None
    b.set("short", b"1", -1)
    assert b.get("short") is None


@pytest.mark.nlp
def test_the_cache_holds_only_digests_offsets_types_and_scores() -> None:
    backend = MemoryBackend()
    d = TextPhiDetector({}, cache_backend=backend)
    d.detect(_part(NOTE))
    items = backend.items()
    assert items
    import json
    import re

    for key, value in items:
        assert re.fullmatch(r"tf:[0-9a-f]{16}", key)
        rows = json.loads(value)
        for start, end, entity, score, rule in rows:
            assert isinstance(start, int) and isinstance(end, int) and start < end
            assert entity.isupper() and isinstance(score, float)
            assert re.fullmatch(r"[A-Za-z0-9_]+(?::[A-Za-z0-9_ ]+)?(?:\+context)?", rule), rule
        blob = key + value.decode()
        for secret in ("Maria", "Gonzalez", "04/17/1958", "00483921", "Jim", "555-0143"):
            assert secret not in blob


@pytest.mark.nlp
def test_the_tagger_loads_and_runs_with_the_network_cut() -> None:
    """Acceptance (issue 10): the model ships in the package; building the engine and detecting opens no socket."""
    code = (
        "import socket\n"
        "def cut(*a, **k):\n"
        "    raise OSError('network cut')\n"
        "socket.socket.connect = cut\n"
        "socket.socket.connect_ex = cut\n"
        "socket.create_connection = cut\n"
        "socket.getaddrinfo = cut\n"
        "from phiwall.detectors.text_phi import TextPhiDetector, tagger_path\n"
        "from phiwall.model import Locator, Part, PartKind\n"
        "d = TextPhiDetector({'cache_entries': 0})\n"
        "t = 'Dr. Holden saw Maria Gonzalez (MRN 4839201) on 3/14.'\n"
        "found = d.detect(Part(id='p', kind=PartKind.TEXT, locator=Locator('body'), text=t))\n"
        "print(sorted({f.entity for f in found}), tagger_path().name)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "PERSON" in r.stdout and "MRN" in r.stdout and "phi_tagger" in r.stdout, r.stdout
