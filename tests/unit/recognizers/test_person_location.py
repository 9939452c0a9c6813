"""Names from cues and from the name lists, places from cues; eponyms and shorthand must stay clean."""

from __future__ import annotations

import pytest
from phiwall.recognizers import location
from phiwall.recognizers import person

from tests.unit.recognizers.conftest import found

NAMES = [
    ("Dr. holden aware of the low urine output", "holden"),
    ("HERMAN W. EMPERATRICE, RRT", "HERMAN W. EMPERATRICE"),
    ("husband jim at bedside", "jim"),
    ("DR. SPARKES AWARE OF K 5.9", "SPARKES"),
    ("METABOLIC ALK. DR.DISANGRO AWARE", "DISANGRO"),
    ("Dr. Hayes notified of the result", "Hayes"),
    ("Dr. Rakusin and Toolis aware.", "Toolis"),
    ("CONTINUES PER DR B. GILL ...", "B. GILL"),
    ("MVO2 55, NP Wolfe aware of numbers", "Wolfe"),
    ("stable overnight.\n   irene snell, rn  \n", "irene snell"),
    ("Discharge summary Patient: Margaret Holloway Diagnosis: pneumonia", "Margaret Holloway"),  # a PDF text layer
    ("Name: John Smith", "John Smith"),
    ("patient name: okafor, margaret", "okafor"),
]


@pytest.mark.parametrize(("text", "value"), NAMES)
def test_name_cues(text: str, value: str) -> None:
    assert any(value in v or v in value for v in found(person.NameCueRecognizer(), text))


@pytest.mark.parametrize(
    "text",
    ["Urine grew E. coli, sputum S. aureus per lab", "Dr. aware and will follow; husband visited.",
     "Send to 4410 North Lake Shore Dr. Apt 5B", "Patient: has chest pain", "Pt: Stable overnight"],
)  # fmt: skip
def test_name_cue_look_alikes(text: str) -> None:
    assert found(person.NameCueRecognizer(), text) == set()


def test_name_lists_find_names_mid_sentence_not_eponyms_or_words() -> None:
    r = person.NameListRecognizer()
    assert "Quentin Marsh" in found(r, "We then asked Quentin Marsh about the dose.")
    assert found(r, "What are the treatments for Hodgkin lymphoma and Parkinson disease?") == set()
    assert found(r, "The patient is Alert and Oriented, Denies pain.") == set()
    assert found(r, "ALL CAPS TEXT WITH JAMES IN IT IS LEFT TO THE TAGGER") == set()


@pytest.mark.parametrize(
    ("word", "stems", "blocked"),
    [("sparkes", {"spark"}, False), ("hayes", {"hay"}, False), ("boxes", {"box"}, True), ("called", {"call"}, True)],
)
def test_name_gate_inflections(word: str, stems: set[str], blocked: bool) -> None:
    assert person.NameGate(stems).could_be_name(word) is not blocked


PLACES = [
    ("PT WAS ADMITTED TO FREDERICK MEMORIAL FOR VFIB", "FREDERICK MEMORIAL"),
    ("admitted in transfer from Calvert Hospital for mental status changes", "Calvert Hospital"),
    ("PT SCREENED BY BALTIMORE REHAB FOR PLACEMENT", "BALTIMORE REHAB"),
    ("Her daughter lives in Fairhaven with two kids", "Fairhaven"),
    ("Moved from Dunmore, Texas last year", "Dunmore, Texas"),
]


@pytest.mark.parametrize(("text", "value"), PLACES)
def test_place_cues(text: str, value: str) -> None:
    assert any(value in v or v in value for v in found(location.PlaceCueRecognizer(), text))


@pytest.mark.parametrize(
    "text",
    ["Transferred to the outside hospital, then to rehab.", "Transfer to MICU 2 and then to floor 6 tomorrow.",
     "Weaned from CPAP to PSV; changed from morphine to percocet.", "SPOKE TO SON WHO LIVES IN FLORIDA."],
)  # fmt: skip
def test_place_cue_look_alikes(text: str) -> None:
    assert found(location.PlaceCueRecognizer(), text) == set()


def test_name_then_relation_prefilter() -> None:
    rule = {r.name: r for r in person.person_rules(person.NameGate())}["name_then_relation"]
    assert rule.prefilter is not None
    for text in ("Mary Jones (daughter) called", "spoke with Ann Lee - wife"):
        assert rule.regex.search(text) and rule.prefilter(text)
