"""Street addresses (US, international, military mail) and ZIP codes."""

from __future__ import annotations

import pytest
import regex
from phiwall.recognizers import address as addr

from tests.unit.recognizers.conftest import found

POSITIVES = [
    (addr.StreetAddressRecognizer, "Lives at 12 Oak Street, Springfield, MA 01103 now",
     "12 Oak Street, Springfield, MA 01103"),
    (addr.StreetAddressRecognizer, "Send to 4410 North Lake Shore Dr. Apt 5B", "4410 North Lake Shore Dr. Apt 5B"),
    (addr.StreetAddressRecognizer, "Timotea lives on Via dei Fiorentini 17 street.", "Via dei Fiorentini 17"),
    (addr.StreetAddressRecognizer, "Ship it to Strickstrasse 61 please", "Strickstrasse 61"),
    (addr.StreetAddressRecognizer, "Meet me at PSC 1437, Box 3833 APO AA 66791", "PSC 1437, Box 3833 APO AA 66791"),
    (addr.StreetAddressRecognizer, "Apt. 050 on the third floor", "Apt. 050"),
    (addr.ZipCodeRecognizer, "Springfield, MA 01103", "01103"),
    # ALL-CAPS notes keep real addresses: a full street word, or an abbreviation vouched for by a unit or a ZIP.
    (addr.StreetAddressRecognizer, "SON STATES PT LIVES ALONE AT 48 WILLOW STREET SINCE HIS WIFE DIED",
     "48 WILLOW STREET"),
    (addr.StreetAddressRecognizer, "DAUGHTER LIVES AT 9 ELM ST APT 2 AND WILL VISIT TOMORROW", "9 ELM ST APT 2"),
    (addr.StreetAddressRecognizer, "HOME ADDRESS 77 BAY RD, SALEM, MA 01970 PER FAMILY MEETING",
     "77 BAY RD, SALEM, MA 01970"),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "text", "value"), POSITIVES)
def test_found(cls: type, text: str, value: str) -> None:
    assert any(value in v or v in value for v in found(cls(), text))


@pytest.mark.parametrize(
    "text",
    ["pt is vented via ett 7.5 23 at lip. uo via foley 50-90cc/hr", "RUE DVT WAS THERAPEUTIC ON 600 UNITS",
     "sats 95-98% on 2L NC. Tolerating diet.",
     # ALL-CAPS shorthand: ST segment and sinus tachycardia, chest tubes and CT scans, decimals and dates before words.
     "CARDIAC- HR 85-110 SR TO ST WITH RARE PVC. SBP 140S OVERNIGHT.",
     "NEURO: MOVES ALL 4 EXTREMITIES TO COMMAND. HEAD CT NEGATIVE",
     "CHEST TUBES: 2 MEDIASTINAL CT DRAINING SEROSANG FLUID",
     "RESP: 7.0 TRACH IN PLACE. TOLERATING TRACH COLLAR WITHOUT DISTRESS",
     "ADMITTED 10/3 PERSANTINE THALLIUM ST CHANGES, NO CHEST PAIN SINCE"],
)  # fmt: skip
def test_clinical_shorthand_is_no_address(text: str) -> None:
    assert found(addr.StreetAddressRecognizer(), text) == set()


def test_street_tail_literals_are_exactly_the_pattern_words() -> None:
    words = addr._STREET_TAIL_WORDS
    assert {"strasse", "straße".casefold(), "vägen", "vagen", "gatan", "weg"} <= set(words)
    for w in words:
        assert regex.fullmatch(f"(?i:{addr._STREET_TAIL})", w, regex.VERSION1), w


@pytest.mark.parametrize("text", ["Ship it to Strickstrasse 61 please", "Adresse: STRÖMGATAN 4, Lund", "Nybyvägen 65"])
def test_street_prefilter_never_hides_a_match(text: str) -> None:
    rule = {r.name: r for r in addr.STREET_RULES}["compound_street_number"]
    assert rule.prefilter is not None and rule.regex.search(text) and rule.prefilter(text)
    assert not rule.prefilter("Page 3 line 12: follow-up visit, vitals stable, medication unchanged")
