"""Presidio recognizers for the PHI that Presidio itself does not know: clinical identifiers and name cues.

Presidio ships no medical-record-number, accession-number, date-of-birth or street-address recognizer, and its
spaCy model misses most names in clinical shorthand ("dr. holden aware", "DAUGHTER JANE IN TODAY"). Everything
here is a plain regular expression with the context word *inside* the pattern and the value in a named group
`value`: that is both more precise than Presidio's separate context-enhancement pass (the context must be right
before the value, not anywhere in a five-token window) and much cheaper (no per-result token scans).

Scores: a context-anchored identifier scores 0.85-0.95 (it passes the default 0.5 threshold); a bare pattern
that is only plausible (a checksum-valid DEA number without the word "DEA") scores 0.6; a validator rejects what
cannot be real (bad checksums, all-zero ids, common English words after "Dr.").

Entity names are exactly the `text_phi` vocabulary of docs/architecture.md. No value ever reaches an
explanation, a log line or an exception: explanations carry the recognizer and rule names only.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass

import regex as re
from presidio_analyzer import AnalysisExplanation
from presidio_analyzer import LocalRecognizer
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

Validator = Callable[[str, "re.Match[str]"], tuple[int, int] | None]
"""Given the value and the match, return the (start, end) span to report, or None to reject the match."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled pattern of a recognizer: `value` group is what gets reported."""

    name: str
    regex: re.Pattern[str]
    score: float
    validate: Validator | None = None


class RegexRecognizer(LocalRecognizer):  # type: ignore[misc]
    """A Presidio recognizer made of `Rule`s whose `value` group (not the whole match) is the finding.

    Presidio's own PatternRecognizer reports the whole match, which would put the context word ("MRN:") into
    the span; a redaction must cover the identifier only.
    """

    def __init__(self, entity: str, rules: Sequence[Rule], name: str) -> None:
        self._rules = tuple(rules)
        super().__init__(supported_entities=[entity], supported_language="en", name=name, context=[])

    def load(self) -> None:
        """Nothing to load: the rules are compiled at import time."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Run every rule over `text` and return value-group spans; rules never see the NLP artifacts."""
        entity = self.supported_entities[0]
        if entities and entity not in entities:
            return []
        results: list[RecognizerResult] = []
        for rule in self._rules:
            for match in rule.regex.finditer(text):
                start, end = match.span("value")
                if start < 0 or end <= start:
                    continue
                if rule.validate is not None:
                    span = rule.validate(text[start:end], match)
                    if span is None:
                        continue
                    start, end = span
                results.append(
                    RecognizerResult(
                        entity_type=entity,
                        start=start,
                        end=end,
                        score=rule.score,
                        analysis_explanation=AnalysisExplanation(
                            recognizer=self.name,
                            original_score=rule.score,
                            pattern_name=rule.name,
                            textual_explanation=f"{self.name}:{rule.name}",
                        ),
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
                )
        return results


def _c(pattern: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(pattern, flags | re.VERSION1)


# Between a context word and its value: punctuation and a few filler words ("MRN #: 123", "member ID is X1").
_GAP = r"[\s:#=.\-]*(?:(?:number|num|no|nbr|id|is|was|of|\#)\b\.?[\s:#=.\-]*){0,3}"
# An identifier: 4-20 characters of letters/digits/dashes with at least three digits.
_ID = r"(?P<value>(?=(?:[A-Z\-]*\d){3})[A-Z0-9](?:[A-Z0-9\-]{2,18})[A-Z0-9])(?![A-Z0-9\-]*\d)\b"


def _has_real_digits(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    """Reject ids that are one repeated digit (000000, 99999): placeholders, not identifiers."""
    digits = [c for c in value if c.isdigit()]
    if len(set(digits)) <= 1:
        return None
    return match.span("value")


# --- MRN -------------------------------------------------------------------------------------------------------
_MRN_CONTEXT = (
    r"(?:\bmrn|\bmr\s*\#|\bm\.r\.n?\.?|\bmed(?:ical)?\.?\s+rec(?:ord)?s?\.?(?:\s+(?:number|no\.?|num|\#))?"
    r"|\bchart\s*(?:number|no\.?|\#)|\bpatient\s*(?:id|identifier|number|no\.?|\#)|\bpt\.?\s*(?:id|\#)"
    r"|\bhospital\s+(?:number|no\.?|\#)|\bunit\s+(?:number|no\.?)|\brecord\s*(?:number|no\.?|\#))"
)
MRN_RULES = (Rule("mrn_context", _c(_MRN_CONTEXT + _GAP + _ID), 0.9, _has_real_digits),)

# --- Accession number ------------------------------------------------------------------------------------------
_ACC_CONTEXT = r"(?:\baccession(?:\s+(?:number|no\.?|num|\#))?|\bacc(?:n|t\.?\s*no)?\.?\s*(?:\#|no\.?|number)|\baccn\b)"
ACCESSION_RULES = (Rule("accession_context", _c(_ACC_CONTEXT + _GAP + _ID), 0.9, _has_real_digits),)

# --- Dates of birth --------------------------------------------------------------------------------------------
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DATE_VALUE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})|\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}"
    r"|\d{8})"
)
_DOB_CONTEXT = r"(?:\bd\.?\s?o\.?\s?b\b\.?|\bdate\s+of\s+birth|\bbirth\s*(?:date|day)|\bborn(?:\s+on)?|\bb\.?d\.?\b)"
DOB_RULES = (
    Rule(
        "dob_context",
        _c(_DOB_CONTEXT + r"[\s:#=.\-,]*(?:(?:is|was|of|on)\s+){0,2}(?P<value>" + DATE_VALUE + r")(?!\d)"),
        0.9,
    ),
)

# --- Month/day dates without a year ("since 8/11"): common in notes, but so are fractions ("1/2 NS", "5/5") ---
_VENT_SETTING = re.compile(r"\b(?:psv?|peep|c?pap|bi-?pap|settings?|vent|s?imv|a/?c|ps)\W*$", re.IGNORECASE)


def _short_date_validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    month, day = (int(x) for x in value.split("/"))
    before = match.string[max(0, match.start("value") - 20) : match.start("value")]
    if _VENT_SETTING.search(before):
        return None
    if month <= 6 and day <= 6:  # 1/2, 2/3, 3/4, 4/5, 5/5 strength, 3/6 murmur: fractions and grades
        return None
    return match.span("value")


SHORT_DATE_RULES = (
    Rule(
        "month_day",
        _c(
            r"(?<![\d/.,:\-])(?P<value>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?![\d/.%]|\s*(?:strength|murmur|ns\b"
            r"|normal\s+saline|tabs?\b|inch|of\b|mg\b|ml\b|cc\b|units?\b|x\b))"
        ),
        0.6,
        _short_date_validate,
    ),
)

# --- Phone numbers Presidio's phonenumbers-based recognizer scores below threshold without a context word ----
PHONE_RULES = (
    Rule(
        "us_formatted",
        _c(r"(?<![\d\-/.])(?P<value>(?:\+?1[\s.\-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[\s.\-]{1,2}[2-9]\d{2}[\s.\-]{1,2}\d{4})"
           r"(?![\d\-/])"),
        0.6,
    ),
    Rule("pager", _c(r"\b(?:pager|beeper|pg)\s*(?:number|no\.?|\#)?\s*[:#]?\s*\#?\s*(?P<value>\d{4,6})\b"), 0.75),
)

# --- Ages over 89 (HIPAA: ages 90+ are identifying) --------------------------------------------------------
_AGE_UNIT = r"(?:y/?o\b|y\.o\.|yo\b|yrs?\b|years?\b|year-old|yr-old)"
AGE_RULES = (
    Rule("age_unit", _c(r"\b(?P<value>9\d|1[0-1]\d)\s*-?\s*" + _AGE_UNIT), 0.85),
    Rule("age_context", _c(r"\b(?:age[ds]?|aged)\s*[:=]?\s*(?P<value>9\d|1[0-1]\d)\b(?!\s*(?:%|mg|kg|ml|mm|/))"), 0.85),
)

# --- US street addresses ---------------------------------------------------------------------------------------
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Way|Place|Pl|Terrace|Ter"
    r"|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Plaza|Loop|Pike|Alley|Crossing|Row|Route|Rte"
    r"|Turnpike|Tpke|Expressway|Broadway)"
)
_STREET_SUFFIX_ANYCASE = "(?i:" + _STREET_SUFFIX + r")\.?"
_UNIT = r"(?:,?\s*(?i:apt|apartment|suite|ste|unit|fl|floor|room|rm|\#)\.?\s*\#?\s*[A-Z0-9\-]{1,6})?"
_CITY_STATE_ZIP = r"(?:,?\s+[A-Z][A-Za-z.'\-]+(?:\s+[A-Z][A-Za-z.'\-]+){0,2},?\s+[A-Z]{2}\.?(?:\s+\d{5}(?:-\d{4})?)?)?"
_STREET_NAME_WORD = r"(?:\d{1,3}(?:st|nd|rd|th)|[A-Z][A-Za-z'.\-]*)"
STREET_RULES = (
    Rule(
        "street_number_name_suffix",
        re.compile(
            r"\b(?P<value>\d{1,6}[A-Z]?(?:-\d{1,4})?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
            + r"(?:"
            + _STREET_NAME_WORD
            + r"\s+){1,4}"
            + _STREET_SUFFIX_ANYCASE
            + r"(?![A-Za-z])"
            + _UNIT
            + _CITY_STATE_ZIP
            + r")",
            re.VERSION1,
        ),
        0.8,
    ),
    Rule("po_box", _c(r"\b(?P<value>p\.?\s?o\.?\s*box\s+\d{1,6})\b"), 0.8),
)

# --- US ZIP codes (only where a state abbreviation or the word "zip" vouches for them) ----------------------------
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH"
    "|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
ZIP_RULES = (
    Rule(
        "zip_after_state",
        re.compile(r"\b(?:" + _STATES + r")\.?,?\s+(?P<value>\d{5}(?:-\d{4})?)\b", re.VERSION1),
        0.7,
    ),
    Rule(
        "zip_context",
        _c(r"\b(?:zip|postal)\s*(?:code)?\s*(?:is\s+)?[\s:#=.\-]*(?P<value>\d{3,6}(?:-\d{3,4}|\s?[A-Z]{2}\b)?)\b"),
        0.85,
    ),
)


# --- NPI: 10 digits, Luhn over "80840" + the number ------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    """Standard Luhn check over a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_ok(value: str) -> bool:
    """An NPI is 10 digits starting 1 or 2 whose Luhn check is computed with the 80840 prefix (ISO 7812)."""
    digits = value.replace(" ", "").replace("-", "")
    return len(digits) == 10 and digits.isdigit() and digits[0] in "12" and luhn_ok("80840" + digits)


def _npi_validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    return match.span("value") if npi_ok(value) else None


_NPI_VALUE = r"(?P<value>[12]\d{3}[ \-]?\d{3}[ \-]?\d{3})(?!\d)"
NPI_RULES = (
    Rule(
        "npi_context",
        _c(r"(?:\bnpi|\bnational\s+provider\s+(?:identifier|id|number)|\bprovider\s+(?:id|number|\#))" + _GAP
           + _NPI_VALUE),
        0.95,
        _npi_validate,
    ),
    # A bare 10-digit Luhn-valid number might be a phone number: only a low score, below the default threshold.
    Rule("npi_checksum", _c(r"(?<![\d\-])" + _NPI_VALUE), 0.3, _npi_validate),
)


# --- DEA registration numbers ------------------------------------------------------------------------------------
def dea_ok(value: str) -> bool:
    """DEA check digit: (d1+d3+d5) + 2*(d2+d4+d6), last digit equals d7."""
    digits = value[2:]
    if len(digits) != 7 or not digits.isdigit():
        return False
    d = [int(c) for c in digits]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def _dea_validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    return match.span("value") if dea_ok(value.upper()) else None


_DEA_VALUE = r"(?P<value>[ABCDEFGHJKLMPRSTUXabcdefghjklmprstux][A-Za-z9]\d{7})\b"
DEA_RULES = (
    Rule("dea_context", _c(r"\bdea" + _GAP + _DEA_VALUE), 0.95, _dea_validate),
    Rule(
        "dea_checksum",
        re.compile(r"\b(?P<value>[ABCDEFGHJKLMPRSTUX][A-Z9]\d{7})\b", re.VERSION1),
        0.6,
        _dea_validate,
    ),
)

# --- Health-plan beneficiary / member ids ---------------------------------------------------------------------
_PLAN_CONTEXT = (
    r"(?:\bmember\s*(?:id|number|no\.?|\#)|\bsubscriber\s*(?:id|number|no\.?|\#)|\bpolicy\s*(?:id|number|no\.?|\#)"
    r"|\binsurance\s*(?:id|number|no\.?|\#)|\bgroup\s*(?:id|number|no\.?|\#)|\bhealth\s*plan\s*(?:id|number|no\.?|\#)?"
    r"|\bmedicaid\s*(?:id|number|no\.?|\#)?|\bmedicare\s*(?:id|number|no\.?|\#)?|\bbeneficiary\s*(?:id|number|no\.?|\#)"
    r"|\bmbi|\bhicn?|\bplan\s*(?:id|number|no\.?|\#))"
)
_MBI_L = "[AC-HJKMNP-RT-Y]"  # Medicare Beneficiary Identifier letters: no S, L, O, I, B, Z
_MBI = rf"(?P<value>[1-9]{_MBI_L}(?:{_MBI_L}|\d)\d{_MBI_L}(?:{_MBI_L}|\d)\d{_MBI_L}{{2}}\d{{2}})"
HEALTH_PLAN_RULES = (
    Rule("plan_context", _c(_PLAN_CONTEXT + _GAP + _ID), 0.85, _has_real_digits),
    Rule("medicare_mbi", re.compile(r"\b" + _MBI + r"\b", re.VERSION1), 0.7),
)

# --- Account numbers -------------------------------------------------------------------------------------------
_ACCOUNT_CONTEXT = (
    r"(?:\baccount\s*(?:number|no\.?|num|\#)?|\bacct\.?\s*(?:number|no\.?|\#)?|\bbilling\s*(?:number|no\.?|\#|id)"
    r"|\bencounter\s*(?:number|no\.?|\#|id)|\bvisit\s*(?:number|no\.?|\#|id)|\bfin\s*(?:number|no\.?|\#)?(?=[\s:#])"
    r"|\bclaim\s*(?:number|no\.?|\#|id)?|\binvoice\s*(?:number|no\.?|\#)?|\bbank\s+account)"
)
ACCOUNT_RULES = (Rule("account_context", _c(_ACCOUNT_CONTEXT + _GAP + _ID), 0.85, _has_real_digits),)


# --- Names announced by a title, a credential or a family relation ------------------------------------------
class NameGate:
    """Decides whether a word after "Dr." or "husband" can be a name, from English word lists in the spaCy model.

    The small model's lemmatizer tables list English verbs, adjectives and adverbs (WordNet); a name is almost
    never one of those, while the false positives of these patterns almost always are ("Dr. aware", "husband
    visited", "daughter present"). Nouns are not excluded because WordNet lists many first names as nouns.
    """

    _EXTRA_STOP = frozenset(
        {
            "aware", "notified", "paged", "called", "bedside", "present", "here", "there", "today", "tonight",
            "yesterday", "tomorrow", "am", "pm", "visit", "visited", "visiting", "phone", "updated", "update",
            "hcp", "proxy", "home", "involved", "informed", "office", "team", "service", "note", "notes", "re",
            "and", "or", "in", "at", "to", "by", "for", "with", "who", "per", "via", "also", "not", "no", "yes",
            "pt", "patient", "pts", "family", "md", "rn", "np", "icu", "ccu", "micu", "sicu", "er", "ed",
            "cath", "lab", "dept", "unit", "floor", "rehab", "name", "names", "number", "wants", "states", "said",
            "aware.", "s", "mother", "father", "son", "daughter", "wife", "husband", "sister", "brother", "of",
            "the", "a", "an", "his", "her", "their", "dr", "mr", "mrs", "ms", "medical", "surgical",
            "following", "hospital", "ok", "okay", "on", "off", "call", "will", "would", "has", "had",
            "children", "child", "kids", "grandchildren", "friends", "members", "member", "visitors", "came",
            "have", "is", "was", "are", "were", "be", "been", "being", "did", "does", "do", "can", "could",
        }
    )  # fmt: skip

    def __init__(self, non_name_words: Iterable[str] = (), stop_words: Iterable[str] = ()) -> None:
        self._blocked = frozenset(w.casefold() for w in non_name_words) | frozenset(
            w.casefold() for w in stop_words
        ) | self._EXTRA_STOP

    def could_be_name(self, word: str) -> bool:
        """True when `word` is not a known English verb/adjective/adverb/stop word (nor an inflection of one)."""
        w = word.casefold().strip(".'-")
        if len(w) < 2 or not w.isalpha() and not w.replace("'", "").replace("-", "").isalpha():
            return False
        if w in self._blocked:
            return False
        for suffix, repl in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("es", ""), ("s", ""), ("ly", "")):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3 and w[: len(w) - len(suffix)] + repl in self._blocked:
                return False
        return True


_NAME_WORD = r"[A-Za-z][A-Za-z'\-]{1,24}"
_TITLE = r"(?:dr|mr|mrs|ms|miss|mx|prof|doctor)"
_RELATION = (
    r"(?:wife|husband|spouse|son|sons|daughter|daughters|dtr|sister|sisters|brother|brothers|mother|father|mom|dad"
    r"|aunt|uncle|niece|nephew|grandson|granddaughter|grandmother|grandfather|fiance|fiancee|boyfriend|girlfriend"
    r"|partner|friend|neighbor|cousin|hcp|guardian|sil|dil|stepson|stepdaughter)"
)
_CREDENTIAL = r"(?:RN|R\.N\.|RRT|NP|MD|M\.D\.|PA-C|DO|RPh|PharmD|LPN|CNA|LICSW|MSW|CRNA|APRN|FNP|BSN|MSN|PhD)"


def _name_validator(gate: NameGate, max_words: int) -> Validator:
    def validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
        start = match.start("value")
        words = list(re.finditer(r"[A-Za-z][A-Za-z'\-]*", value))[:max_words]
        kept_end = None
        for i, w in enumerate(words):
            # A single-letter middle initial is fine once a name has started ("HERMAN W. EMPERATRICE").
            if i > 0 and len(w.group()) == 1:
                continue
            if not gate.could_be_name(w.group()):
                break
            kept_end = start + w.end()
            if i == 0 and w.group().endswith("'s"):
                kept_end -= 2
                break
        if kept_end is None or kept_end <= start:
            return None
        return (start, kept_end)

    return validate


def person_rules(gate: NameGate) -> tuple[Rule, ...]:
    """Name patterns; built at run time because the word lists come from the loaded spaCy model."""
    two_names = rf"(?P<value>{_NAME_WORD}(?:\s+(?:[A-Za-z]\.\s*)?{_NAME_WORD})?)"
    return (
        Rule("title", _c(rf"\b{_TITLE}\.?\s+{two_names}"), 0.85, _name_validator(gate, 3)),
        Rule(
            "relation",
            _c(rf"\b{_RELATION}(?:'s)?(?:\s*[,:\-(]\s*|\s+)(?:named\s+|is\s+)?{two_names}"),
            0.7,
            _name_validator(gate, 2),
        ),
        Rule(
            "name_then_relation",
            _c(rf"(?P<value>{_NAME_WORD}\s+{_NAME_WORD})\s*[,(\-]+\s*{_RELATION}\b\s*\)?"),
            0.7,
            _name_validator(gate, 2),
        ),
        Rule(
            "credential",
            re.compile(
                rf"(?P<value>\b[A-Z][A-Za-z'\-]+(?:\s+[A-Z]\.?)?\s+[A-Z][A-Za-z'\-]+),?\s+{_CREDENTIAL}(?![A-Za-z])",
                re.VERSION1,
            ),
            0.8,
            _name_validator(gate, 3),
        ),
    )


def build_recognizers(gate: NameGate) -> list[RegexRecognizer]:
    """Every custom recognizer, one per entity, named for explanations and audit."""
    return [
        RegexRecognizer("MRN", MRN_RULES, "MrnRecognizer"),
        RegexRecognizer("DATE_TIME", SHORT_DATE_RULES, "ShortDateRecognizer"),
        RegexRecognizer("PHONE_NUMBER", PHONE_RULES, "PhoneFormatRecognizer"),
        RegexRecognizer("ACCESSION_NUMBER", ACCESSION_RULES, "AccessionRecognizer"),
        RegexRecognizer("DATE_OF_BIRTH", DOB_RULES, "DateOfBirthRecognizer"),
        RegexRecognizer("AGE_OVER_89", AGE_RULES, "AgeOver89Recognizer"),
        RegexRecognizer("STREET_ADDRESS", STREET_RULES, "StreetAddressRecognizer"),
        RegexRecognizer("ZIP_CODE", ZIP_RULES, "ZipCodeRecognizer"),
        RegexRecognizer("NPI", NPI_RULES, "NpiRecognizer"),
        RegexRecognizer("DEA", DEA_RULES, "DeaRecognizer"),
        RegexRecognizer("HEALTH_PLAN_ID", HEALTH_PLAN_RULES, "HealthPlanIdRecognizer"),
        RegexRecognizer("ACCOUNT_NUMBER", ACCOUNT_RULES, "AccountNumberRecognizer"),
        RegexRecognizer("PERSON", person_rules(gate), "NameCueRecognizer"),
    ]


def deny_list_recognizer(entity: str, terms: Sequence[str]) -> RegexRecognizer:
    """Terms the policy says are always PHI (names of known patients or staff), matched as whole words."""
    alternatives = "|".join(re.escape(t.strip()) for t in sorted(terms, key=len, reverse=True) if t.strip())
    rule = Rule("deny_list", _c(rf"(?<![\w])(?P<value>{alternatives})(?![\w])"), 1.0)
    return RegexRecognizer(entity, (rule,), f"DenyList{entity.title().replace('_', '')}")


