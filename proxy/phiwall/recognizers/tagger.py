"""The trained PHI tagger's spans (phiwall/data/phi_tagger, see docs/model-card-phi-tagger.md) as Presidio results.

The tagger is a spaCy NER trained on surrogate PHI in clinical notes (training/): its labels are mapped to the
`text_phi` vocabulary by phiwall/data/presidio_nlp.yaml (PERSON, DATE -> DATE_TIME, LOC -> LOCATION, ADDRESS ->
STREET_ADDRESS, PHONE -> PHONE_NUMBER, ID -> MRN, AGE -> AGE_OVER_89). Cheap second opinions on the tagger's
typical mistakes (chosen on the tune-dev groups it never trained on):
- PERSON/LOCATION before "disease", "syndrome", "sign"... is an eponym, not a person;
- a PERSON span loses the ordinary words glued in front of the name ("And Margaret Okafor" -> "Margaret Okafor");
- PERSON made only of ordinary words (philter-lite's not-a-name list: "OCCASIONALLY", "Urine"), or with a drug or
  disease word ending ("-ism", "-itis", "-mycin"), is dropped unless a title precedes it ("Dr. Park"); a lone
  initial is dropped;
- AGE_OVER_89 must be a number from 90 to 125 with words around it (a bare "91" is a header value or a
  counter, not an age); DATE_TIME must look like a date (a month/day in range, a year, a
  month name, an apostrophe year), not a ventilator setting or a blood pressure;
- STREET_ADDRESS runs of more than 10 words or without a digit are dropped, and so are those that start inside a
  number or with a decimal ("97.3 Bair Hugger removed");
- PHONE_NUMBER needs 7+ digits in its run of digits and separators ("212- 476- 8356"), or 4+ after a phone cue
  ("beeper 55037"); an MRN needs 4+ digits ("(turn 19)" is neither).
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from spacy.lang.en.stop_words import STOP_WORDS

from phiwall.recognizers.address import number_is_no_house_number
from phiwall.recognizers.base import register
from phiwall.recognizers.location import _STATE_ONLY
from phiwall.recognizers.person import _case_of
from phiwall.recognizers.person import not_name_words

_CONTEXT_WORD = re.compile(r"[^\W\d_]{2,}")
TAGGER_ENTITIES = ("PERSON", "DATE_TIME", "LOCATION", "STREET_ADDRESS", "PHONE_NUMBER", "MRN", "AGE_OVER_89")

# NER PERSON/LOCATION spans that are followed by these words name a disease, sign or test, not a person.
EPONYM_TAIL = re.compile(
    r"^(?:'s|’s|s')?\s*(?:-\s*\w+\s+)?"
    r"(?:(?!(?:has|had|have|with|and|is|was|from|for|of|in|on|to|the|a|an|his|her|their|who|if)\b)[a-z]+\s+)?"
    r"(?:disease|syndrome|disorder|palsy|sign|test|reflex|maneuver|manoeuvre|"
    r"lymphoma|sarcoma|tumou?r|phenomenon|anomaly|score|scale|criteria|classification|procedure|operation|"
    r"fracture|ulcer|cyst|node|nodes|law|triad|ataxia|dystrophy|anemia|anaemia|encephalopathy|dementia|cells?|"
    r"catheter|position|respirations?|breathing|esophagus|thyroiditis|virus|factor|monitor|fundoplication)\b",
    re.IGNORECASE,
)


# Drug, disease and procedure word endings: a "name" with one of them is a term list ("Hyperaldosteronism").
_MEDICAL_SUFFIX = re.compile(
    r"(?:itis|osis|emia|aemia|plasia|ectomy|otomy|ostomy|cephaly|algia|pathy|pril|sartan|olol|azole|mycin"
    r"|cillin|statin|oxacin|prazole|graphy|scopy|uria|penia|trophy|plegia|paresis|ism|opsy|amine|idine)$",
    re.IGNORECASE,
)
_TITLE_BEFORE = re.compile(r"\b(?:dr|mr|mrs|ms|miss|prof|doctor|nurse|np|pa|rn)\.?\s*$", re.IGNORECASE)
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Words the tagger glues in front of a name at a sentence start: function words (spaCy's English stop words, less
# the ones that are also given names) and the verbs and greetings a message opens with.
_GLUED_WORDS = (STOP_WORDS - {"will", "may", "mine", "bill", "don", "sue", "amen"}) | {
    "tell", "ask", "thanks", "thank", "dear", "hi", "hello", "hey", "call", "page", "contact", "notify", "inform",
    "remind", "let", "meet", "help", "patient", "pt", "told", "asked", "called", "paged", "saw", "visited",
}  # fmt: skip
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE_SHAPE = re.compile(
    r"\b(?:0?[1-9]|1[0-2])[/\-.](?:0?[1-9]|[12]\d|3[01])(?:[/\-.](?:\d{2}|\d{4}))?\b|\b\d{4}-\d{2}-\d{2}\b"
    r"|\b(?:0?[1-9]|[12]\d|3[01])[.\-/](?:0?[1-9]|1[0-2])[.\-/]\d{2,4}\b|\b(?:19|20)\d{2}\b|['’]\d{2}\b"
    rf"|\b{_MONTHS}\b|\b(?:christmas|thanksgiving|easter|new\s+year'?s)\b|^(?:0?[1-9]|1[0-2])/\d{{2}}$",
    re.IGNORECASE,
)
_SETTING_BEFORE = re.compile(
    r"\b(?:psv?|peep|c?pap|bi-?pap|settings?|vent\w*|s?imv|a/?c|ps|bp|pap\w*|plateau|pads?|paps|cvp|hr|rate|rr"
    r"|breathing|dropped\s+to|from|to|wean\w*|pain|score|strength)\W*$",
    re.IGNORECASE,
)
_SETTING_IN = re.compile(r"\b(?:bi-?pap|c?pap|peep|psv?|vent\w*|mask)\b", re.IGNORECASE)
_STREET_EVIDENCE = re.compile(
    r"\b\d{5}(?:-\d{4})?\b|\b(?:street|avenue|road|boulevard|drive|lane|court|box|apt|suite|highway|parkway)\b",
    re.IGNORECASE,
)
_PHONE_CUE = re.compile(
    r"\b(?:phone|tel|cell|mobile|pager|beeper|page|pg|ext|x|fax|call|number|no|home|work|office)\b\W*$|#\s*$",
    re.IGNORECASE,
)
_PHONE_CHARS = frozenset("0123456789 -().+/")
_CLOCK_BEFORE = re.compile(r"(?:@|~|\b(?:at|by|until|till|til|around|about|approx|since|before|after))\s*$", re.I)


@register
class PhiTaggerRecognizer(SpacyRecognizer):
    """Names, dates, places, addresses, phones, ids and ages from the trained tagger (NLP artifacts)."""

    def __init__(self) -> None:
        super().__init__(supported_language="en", supported_entities=list(TAGGER_ENTITIES))

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = super().analyze(text, entities, nlp_artifacts)
        return [r for r in (self.trimmed(r, text) for r in results) if self.plausible(r, text)]

    @staticmethod
    def trimmed(r: RecognizerResult, text: str) -> RecognizerResult:
        """A PERSON span without the sentence words the tagger glued in front of a name ("And Margaret Okafor",
        "Should John Smith", "Tell John Smith"): leading function words and sentence-opening verbs or greetings
        (never a word that is also a given name: "Will Jones", "Mark Smith" keep theirs).

        Without this the same person gets a second stand-in whenever a sentence starts with their name."""
        if r.entity_type != "PERSON":
            return r
        start = r.start
        while True:
            m = _NAME_WORD.match(text, start, r.end)
            rest = text[m.end() : r.end] if m else ""
            if m is None or not _NAME_WORD.search(rest):
                break
            if m.group(0).casefold() not in _GLUED_WORDS:
                break
            start = m.end() + (len(rest) - len(rest.lstrip()))
        if start == r.start:
            return r
        return RecognizerResult(r.entity_type, start, r.end, r.score, r.analysis_explanation, r.recognition_metadata)

    def plausible(self, r: RecognizerResult, text: str) -> bool:
        """The second opinions listed in the module docstring."""
        value = text[r.start : r.end]
        before = text[max(0, r.start - 24) : r.start]
        if self.is_eponym(r, text):
            return False
        if r.entity_type == "PERSON":
            words = [w.casefold() for w in _NAME_WORD.findall(value)]
            if sum(len(w) for w in words) < 2:
                return False
            if _TITLE_BEFORE.search(before):
                return True
            if any(len(w) > 5 and _MEDICAL_SUFFIX.search(w) for w in words):
                return False
            not_names = not_name_words()
            return not all(w in not_names or len(w) == 1 for w in words)
        if r.entity_type == "LOCATION":
            return _STATE_ONLY.match(value.strip()) is None  # HIPAA keeps states: "SON FROM TEXAS" is no PHI
        if r.entity_type == "AGE_OVER_89":
            age = "".join(c for c in value if c.isdigit())[:3]
            around = text[max(0, r.start - 30) : r.start] + " " + text[r.end : r.end + 30]
            # A bare "91" (a header value, a counter) is no age: the tagger must have words to read it by.
            return bool(age) and 90 <= int(age) <= 125 and len(_CONTEXT_WORD.findall(around)) >= 2
        if r.entity_type == "DATE_TIME":
            if text[r.end : r.end + 1] == "%" or _SETTING_BEFORE.search(before) or _SETTING_IN.search(value):
                return False
            if value.isdigit() and len(value) == 4 and _CLOCK_BEFORE.search(before):
                return False  # "@ 1900", "approx 1630": a time of day, not a year
            return _DATE_SHAPE.search(value) is not None
        if r.entity_type == "PHONE_NUMBER":
            if sum(c.isdigit() for c in value) >= 4 and _PHONE_CUE.search(before):
                return True
            lo, hi = r.start, r.end
            while lo > 0 and text[lo - 1] in _PHONE_CHARS:
                lo -= 1
            while hi < len(text) and text[hi] in _PHONE_CHARS:
                hi += 1
            return sum(c.isdigit() for c in text[lo:hi]) >= 7
        if r.entity_type == "MRN":
            return sum(c.isdigit() for c in value) >= 4
        if r.entity_type == "STREET_ADDRESS":
            if not any(c.isdigit() for c in value) or len(value.split()) > 10:
                return False
            if number_is_no_house_number(text, r.start):
                return False
            # In ALL-CAPS shorthand ("HR 80-103 SR TO ST WITH PVC") an address needs a ZIP or a street word.
            return (
                not _mostly_upper(text[max(0, r.start - 60) : r.end + 60]) or _STREET_EVIDENCE.search(value) is not None
            )
        return True

    @staticmethod
    def is_eponym(r: RecognizerResult, text: str) -> bool:
        """A PERSON/LOCATION right before a disease-like word ("Crohn's disease", "Bell's palsy")."""
        if r.entity_type not in ("PERSON", "LOCATION"):
            return False
        tail = text[r.end : r.end + 40]
        return EPONYM_TAIL.match(tail) is not None or (tail[:1] == "-" and tail[1:2].isupper())


def _mostly_upper(window: str) -> bool:
    return _case_of(window, 0, len(window)) == "upper"
