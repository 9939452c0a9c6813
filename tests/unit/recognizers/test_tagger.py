"""The tagger's second opinions: each keeps a real PHI span and drops its typical mistake (no model needed)."""

from __future__ import annotations

import pytest
from phiwall.recognizers.tagger import PhiTaggerRecognizer
from presidio_analyzer import RecognizerResult


def _judge(text: str, value: str, entity: str) -> bool:
    start = text.index(value)
    r = RecognizerResult(entity_type=entity, start=start, end=start + len(value), score=0.85)
    return PhiTaggerRecognizer().plausible(r, text)


KEEP = [
    ("Dr. Frost aware of the K 5.9", "Frost", "PERSON"),
    ("Dr. Park notified", "Park", "PERSON"),  # an English word, but after a title
    ("husband Jim Martino in to visit", "Jim Martino", "PERSON"),
    ("spoke with Thomas Kessler about it", "Thomas Kessler", "PERSON"),
    ("PMH: S/P MI 10/16, CABG", "10/16", "DATE_TIME"),
    ("prostate CA '88, GERD", "'88", "DATE_TIME"),
    ("seen on March 3 for follow-up", "March 3", "DATE_TIME"),
    ("98 yo gentleman", "98", "AGE_OVER_89"),
    ("Mrs. K, 94, presented with a fall", "94", "AGE_OVER_89"),
    ("transferred to Quartermain 3", "Quartermain", "LOCATION"),
    ("lives at 12 Oak Street, Springfield", "12 Oak Street, Springfield", "STREET_ADDRESS"),
    ("dtr Frances - 212- 476- 8356", "476", "PHONE_NUMBER"),
    ("reached at beeper number 55037", "55037", "PHONE_NUMBER"),
    ("call 617-555-0143", "617-555-0143", "PHONE_NUMBER"),
    ("ref # 8336652", "8336652", "MRN"),
]


@pytest.mark.parametrize(("text", "value", "entity"), KEEP)
def test_real_phi_is_kept(text: str, value: str, entity: str) -> None:
    assert _judge(text, value, entity)


DROP = [
    ("PATIENT OCCASIONALLY IN NSR FOR A FEW MINUTES", "OCCASIONALLY", "PERSON"),
    ("ACCESS: R. WRIST SL", "R.", "PERSON"),
    ("What is Crohn's disease?", "Crohn", "PERSON"),
    ("Pallister-Killian mosaic syndrome is rare", "Pallister-Killian", "PERSON"),
    ("renin system - Hyperaldosteronism - Hyperchloriduria", "Hyperaldosteronism - Hyperchloriduria", "PERSON"),
    ("Mr. Renna is a 67 yo man", "67", "AGE_OVER_89"),
    ("91", "91", "AGE_OVER_89"),  # a header value (x-request-seq: 91) the tagger reads as an age
    ("x 91", "91", "AGE_OVER_89"),
    ("received on mask ventilation 10/5 40%", "10/5", "DATE_TIME"),
    ("BP DROPPED TO 78/40. GIVEN 500CC", "78/40", "DATE_TIME"),
    ("APPROX 1630 WAS ABLE TO SHUT DOWN", "1630", "DATE_TIME"),
    ("SPOKE ALSO TO SON FROM TEXAS. A: COUGH", "TEXAS", "LOCATION"),
    ("HR 80-103 SR TO ST WITH OCCASIONAL PVC. SBP 150", "80-103 SR TO ST WITH OCCASIONAL PVC", "STREET_ADDRESS"),
    ("Temp up to 98.6 warming blanket removed. Cont", "98.6 warming blanket removed. Cont", "STREET_ADDRESS"),
    ("Resp: 7.0 trach in place, on collar", "0 trach in place", "STREET_ADDRESS"),
    ("(turn 19) Thanks for the details", "19", "PHONE_NUMBER"),
    ("(turn 19) Thanks for the details", "19", "MRN"),
]


@pytest.mark.parametrize(("text", "value", "entity"), DROP)
def test_typical_mistakes_are_dropped(text: str, value: str, entity: str) -> None:
    assert not _judge(text, value, entity)


@pytest.mark.parametrize(
    ("text", "span", "name"),
    [
        ("And Margaret Okafor?", "And Margaret Okafor", "Margaret Okafor"),
        ("Should Margaret Okafor stop metformin?", "Should Margaret Okafor", "Margaret Okafor"),
        ("Tell John Smith.", "Tell John Smith", "John Smith"),
        ("Thanks Dr Lee", "Thanks Dr Lee", "Dr Lee"),
        ("Will Jones came in", "Will Jones", "Will Jones"),  # a given name that is also a word stays
        ("Mark Smith came in", "Mark Smith", "Mark Smith"),
        ("And", "And", "And"),  # never trimmed to nothing (plausible() judges it)
    ],
)
def test_words_glued_in_front_of_a_name_are_trimmed(text: str, span: str, name: str) -> None:
    """One person, one stand-in: a sentence that opens with the name must not make a second person of it."""
    start = text.index(span)
    r = RecognizerResult(entity_type="PERSON", start=start, end=start + len(span), score=0.85)
    t = PhiTaggerRecognizer.trimmed(r, text)
    assert text[t.start : t.end] == name and t.end == r.end
