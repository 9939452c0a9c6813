"""Dates of birth and clinical dates, phone layouts, ages over 89: each with look-alikes that must stay clean."""

from __future__ import annotations

import pytest
from phiwall.recognizers.age import AgeOver89Recognizer
from phiwall.recognizers.dates import ClinicalDateRecognizer
from phiwall.recognizers.dates import DateOfBirthRecognizer
from phiwall.recognizers.phone import PHONE_RULES
from phiwall.recognizers.phone import PhoneFormatRecognizer
from phiwall.recognizers.phone import WindowedPhoneRecognizer

from tests.unit.recognizers.conftest import found

POSITIVES = [
    (DateOfBirthRecognizer, "Pt DOB 03/14/1961 presents with cough", "03/14/1961"),
    (DateOfBirthRecognizer, "date of birth: March 4, 1950", "March 4, 1950"),
    (ClinicalDateRecognizer, "readmitted to CCU 9/29 from cath lab", "9/29"),
    (ClinicalDateRecognizer, "PAN CULTURED X 2 8/15.  TYLENOL GIVEN", "8/15"),
    (ClinicalDateRecognizer, "s/p pelvic fx 4/97, right arm fx", "4/97"),
    (ClinicalDateRecognizer, "10-18-20 7A TO 1200 CSRU PROGRESS NOTE", "10-18-20"),
    (ClinicalDateRecognizer, "S/P CABG 1957 WITH REDO", "1957"),
    (ClinicalDateRecognizer, "prostate CA'88, GERD", "'88"),
    (ClinicalDateRecognizer, "follow-up on March 4th with the team", "March 4th"),
    (ClinicalDateRecognizer, "planned for the 4th of July weekend", "4th of July"),
    (AgeOver89Recognizer, "98 yo gentleman s/p NSTEMI", "98"),
    (AgeOver89Recognizer, "She is a 102-year-old woman", "102"),
    (AgeOver89Recognizer, "92yoF with CHF exacerbation", "92"),
    (AgeOver89Recognizer, "a 95 y/o M found down", "95"),
    (AgeOver89Recognizer, "still active in her 90s", "90s"),
    (PhoneFormatRecognizer, "Pager #12345 for questions", "12345"),
    (PhoneFormatRecognizer, "Name: Emilie Broberg Phone: 0688 872 49 99", "0688 872 49 99"),
    (PhoneFormatRecognizer, "updated on condition (301-152-9058)", "301-152-9058"),
    (WindowedPhoneRecognizer, "Call me at (617) 555-0143 tomorrow", "(617) 555-0143"),
]


@pytest.mark.parametrize(("cls", "text", "value"), POSITIVES)
def test_found(cls: type, text: str, value: str) -> None:
    assert any(value in v or v in value for v in found(cls(), text))


NEGATIVES = [
    (ClinicalDateRecognizer, "Continued to wean down to 10/5. Pain rating 3/10."),
    (ClinicalDateRecognizer, "CPT DONE @ 1900. CALLED AT 2030."),
    (ClinicalDateRecognizer, "Pt currently on BIPAP 10/5/12BPM"),
    # Mask ventilation settings, an FiO2 before a setting, a pain score after "as", a setting glued to a percent.
    (ClinicalDateRecognizer, "Placed on mask ventilation 10/5 with FiO2 40%."),
    (ClinicalDateRecognizer, "Remains on CPAP .5% 5/8 overnight, TV low."),
    (ClinicalDateRecognizer, "She rates the pain as 7/10 on movement."),
    (ClinicalDateRecognizer, "Overnight on mask ventilation 5/10/40%, ABG pending."),
    (ClinicalDateRecognizer, "DEC 2 MG AND MAY NEED MORE"),
    (ClinicalDateRecognizer, "Should I take 1/2 tablet of metoprolol?"),
    (AgeOver89Recognizer, "T 98 F axillary, 99.1 F oral"),
    (AgeOver89Recognizer, "sats in the 90s on 2L"),
    (PhoneFormatRecognizer, "Call 911 if chest pain. Phone the clinic."),
    (WindowedPhoneRecognizer, "Call 911 if chest pain. Phone the clinic."),
]


@pytest.mark.parametrize(("cls", "text"), NEGATIVES)
def test_look_alikes_stay_clean(cls: type, text: str) -> None:
    assert found(cls(), text) == set()


@pytest.mark.parametrize(("rule_name", "text"), [("us_formatted", "call (617) 555-0134 tonight"),
                                                 ("us_formatted", "+1 617.555.0134")])  # fmt: skip
def test_a_prefilter_never_hides_a_match(rule_name: str, text: str) -> None:
    rule = {r.name: r for r in PHONE_RULES}[rule_name]
    assert rule.prefilter is not None and rule.regex.search(text) and rule.prefilter(text)
    assert not rule.prefilter("Page 3 line 12: follow-up visit, vitals stable, medication unchanged")
