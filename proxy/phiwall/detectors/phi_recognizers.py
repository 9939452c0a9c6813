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
    # A cheap necessary condition: False means no match of `regex` can exist in the text, so the rule is skipped.
    # Worth it for patterns that try many split points at every word (measured: 20-30 ms per 56 KB each).
    prefilter: Callable[[str], bool] | None = None


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
            if rule.prefilter is not None and not rule.prefilter(text):
                continue
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


def _contains(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    """Prefilter: the text has a match of a cheap pattern that every match of the rule contains."""
    return lambda text: pattern.search(text) is not None


def _word_then(words: Sequence[str], after: re.Pattern[str]) -> Callable[[str], bool]:
    """Prefilter: one of these literals occurs in the text, in any case, directly followed by `after`.

    Substring searches for 40 words cost far less than an alternation of 40 words, which the regex engine tries
    at every position of the text.
    """

    def check(text: str) -> bool:
        folded = text.casefold()
        for w in words:
            i = folded.find(w)
            while i >= 0:
                if after.match(folded, i + len(w)):
                    return True
                i = folded.find(w, i + 1)
        return False

    return check


def _literals(alternation: str) -> set[str]:
    """The words of a regex alternation of literals with single-character classes: "stra[sß]e|weg" ->
    {"strase", "straße", "weg"}; checked against the pattern by a unit test."""
    out: set[str] = set()
    for alt in alternation.split("|"):
        words = [""]
        for part in re.split(r"(\[[^\]]+\])", alt):
            options = list(part[1:-1]) if part.startswith("[") else [part]
            words = [w + o for w in words for o in options]
        out.update(w.casefold() for w in words)
    return out


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
_VENT_SETTING = re.compile(
    r"\b(?:psv?|peep|c?pap|bi-?pap|settings?|vent|s?imv|a/?c|ps|wean\w*(?:\s+\w+){0,2}\s+to|pain|rat(?:ing|ed|es?)"
    r"|scores?|scale|level|strength|grade)\W*(?:(?:of|at|is|was|to|a|about|around|~)\W+)?$",
    re.IGNORECASE,
)


def _short_date_validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    month, day = (int(x) for x in value.split("/"))
    before = match.string[max(0, match.start("value") - 20) : match.start("value")]
    if _VENT_SETTING.search(before):
        return None
    if month <= 6 and day <= 6:  # 1/2, 2/3, 3/4, 4/5, 5/5 strength, 3/6 murmur: fractions and grades
        return None
    return match.span("value")


def _not_a_setting(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    before = match.string[max(0, match.start("value") - 20) : match.start("value")]
    return None if _VENT_SETTING.search(before) else match.span("value")


_NOT_A_DOSE = (
    r"(?![\d/%]|\.\d|\s*(?:strength|murmur|ns\b|normal\s+saline|tabs?\b|inch|of\b|mg\b|ml\b|cc\b|units?\b|x\b))"
)
# Month names: full names in any case, but "may"/"march" only capitalised (verbs) and three-letter abbreviations only
# in title case ("dec" and "DEC" are "decreased" in nursing shorthand).
_MONTH_FULL = (
    r"(?:(?i:january|february|april|june|july|august|september|october|november|december)|May|MAY|March|MARCH)"
)
_MONTH_ABBR = r"(?:(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?|(?:JAN|FEB|APR|JUN|JUL|AUG|SEPT?|OCT|NOV)\b\.?)"
_MONTH_NAME = rf"(?:{_MONTH_FULL}|{_MONTH_ABBR})"
_ORD = r"(?:st|nd|rd|th|ST|ND|RD|TH)"
_YEAR_CUE = (
    r"(?:\bin|\bcirca|\bsince|\byear|\bdiagnosed(?:\s+in)?|\bdx'?d?(?:\s+in)?|\bhx\s+of\s+\w+(?:\s+in)?"
    r"|\b(?:s/p|h/o)\s+[\w/\-]+(?:\s+x\s*\d)?(?:\s+in)?"
    r"|\b(?:mi|cva|cabg|tia|ptca|avr|mvr|chf|copd|cad|ca|pci|stent|tah|bso|lap\s+chole|appy|turp|tka|tha|orif)"
    r"(?:\s*x\s*\d)?(?:\s+in)?)"
)
SHORT_DATE_RULES = (
    Rule(
        "month_day",
        _c(r"(?<![\d/.,:\-])(?P<value>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))" + _NOT_A_DOSE),
        0.6,
        _short_date_validate,
    ),
    # "fx 4/97", "CA (12/93)", "CABG in 3/80": month/two-digit year after a history cue.
    Rule(
        "month_year",
        _c(
            r"(?:\b(?:in|since|on|from|until|fx|dx|s/p|h/o|hx|diagnosed|dx'?d|ca)\s*|\()"
            r"(?P<value>(?:0?[1-9]|1[0-2])/(?:[3-9]\d|[0-2]\d))" + _NOT_A_DOSE
        ),
        0.6,
    ),
    # "10-18-20", "3-24-88", "3/24/88" with two- or four-digit years.
    Rule(
        "numeric_mdy",
        _c(
            r"(?<![\d/.\-])(?P<value>(?:0?[1-9]|1[0-2])([/\-])(?:0?[1-9]|[12]\d|3[01])\2(?:\d{4}|\d{2}))"
            r"(?![\d/\-.]\d|\d|[a-z])"
        ),
        0.6,
        _not_a_setting,
    ),
    # "March 4th", "Jan. 12", "4th of July", "28 Oct, 88": a month name and a day, with or without a year.
    Rule(
        "month_name_day",
        re.compile(
            rf"\b(?P<value>{_MONTH_NAME}\s*(?:0?[1-9]|[12]\d|3[01]){_ORD}?(?:,?\s*(?:'?\d{{2}}|\d{{4}}))?)(?![\d:/]|\s*(?:mg|ml|cc|units?|%|x\b))"
            rf"|\b(?P<value>(?:0?[1-9]|[12]\d|3[01]){_ORD}?\s+(?:(?i:of)\s+)?{_MONTH_NAME}(?:,?\s*(?:'?\d{{2}}\b|\d{{4}}))?)(?![A-Za-z])",
            re.VERSION1,
        ),
        0.7,
    ),
    # Years after a history cue ("CABG 1957", "CVA in 2008", "dx'd 1999"); four-digit times ("at 1930") have no cue.
    Rule(
        "year_after_cue",
        _c(
            _YEAR_CUE + r"\s*[,:]?\s*(?P<value>(?:19[3-9]\d|20[0-4]\d))(?:\s*(?:,|and|&)\s*(?:19[3-9]\d|20[0-4]\d))*"
            r"\b(?!\s*(?:hrs?\b|h\b|:|am\b|pm\b|-\s*\d|mg|ml|cc|units?))"
        ),
        0.6,
    ),
    # Apostrophe years: "CA'88", "surgery '85".
    Rule("apostrophe_year", re.compile(r"(?<=[A-Za-z\s(,])(?P<value>['’][3-9]\d)\b(?![\d'’\"])", re.VERSION1), 0.6),
)

# --- Phone numbers Presidio's phonenumbers-based recognizer scores below threshold without a context word ----
PHONE_RULES = (
    Rule(
        "us_formatted",
        _c(
            r"(?<![\d\-/.])(?P<value>(?:\+?1[\s.\-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[\s.\-]{1,2}[2-9]\d{2}[\s.\-]{1,2}\d{4})"
            r"(?![\d\-/])"
        ),
        0.6,
        prefilter=_contains(_c(r"\d{3}[\s.\-]{1,2}\d{4}")),
    ),
    # Area-code style with dashes or dots and any exchange digit ("301-152-9058"): the separators carry it.
    Rule("dashed", _c(r"(?<![\d\-/.])(?P<value>\(?[2-9]\d{2}\)?([\-.])\d{3}\2\d{4})(?![\d\-/]|\.\d)"), 0.6),
    # After a phone cue, any grouping of 6-15 digits: "Phone: 0688 872 49 99", "(72) 754-186", "+44 20 7946 0958".
    Rule(
        "cue_any_format",
        _c(
            r"\b(?:phone|tel|telephone|cell|cellphone|mobile|fax|ph|contact\s+(?:number|no\.?|\#)|messages?\s+to"
            r"|text\s+me\s+at|call\s+me\s+at|reach\s+me\s+at|whatsapp)\s*(?:number|no\.?|\#|is)?\s*[:#=]?\s*"
            r"(?P<value>\+?\(?\d{1,4}\)?(?:[\s.\-]{1,2}\(?\d{1,5}\)?){0,5})(?![\d/])"
        ),
        0.75,
        lambda v, m: m.span("value") if 6 <= sum(c.isdigit() for c in v) <= 15 else None,
    ),
    Rule("pager", _c(r"\b(?:pager|beeper|pg)\s*(?:number|no\.?|\#)?\s*[:#]?\s*\#?\s*(?P<value>\d{4,6})\b"), 0.75),
)

# --- Ages over 89 (HIPAA: ages 90+ are identifying) --------------------------------------------------------
_AGE_UNIT = r"(?:y/?o\b|y\.o\.|yo\b|yrs?\b|years?\b|year-old|yr-old)"
AGE_RULES = (
    Rule("age_unit", _c(r"\b(?P<value>9\d|1[0-1]\d)\s*-?\s*" + _AGE_UNIT), 0.85),
    # "92yo", "92yoF", "92yF", "92 y/o M" (never a bare "98 F": that is a temperature).
    Rule("age_sex", _c(r"\b(?P<value>9\d|1[0-1]\d)\s*-?\s*(?:y/?o|y\.o\.?|yo|y)\s*(?:[mf]|male|female)\b"), 0.8),
    Rule("age_decade", _c(r"\b(?:his|her|their)\s+(?:early\s+|mid\s*-?\s*|late\s+)?(?P<value>(?:9|10)0['’]?s)\b"), 0.8),
    Rule("nonagenarian", _c(r"\b(?P<value>(?:nonagenarian|centenarian|supercentenarian))\b"), 0.7),
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
# Title case only: "via foley", "RUE DVT" (right upper extremity) are clinical shorthand.
_STREET_PREFIX = (
    r"Via|Viale|Vicolo|Piazza|Piazzale|Corso|Largo|Rue|Avenue|Av\.|Avda\.?|Avenida|Rua|Calle|C/|Carrer|Camino|Paseo"
    r"|Plaza|Pra[cç]a|Travessa|Estrada|Chemin|All[ée]e|Boulevard|Quai|Impasse|[Uu]l\.|Ulica|Ulice|Trg|Strada|Str\."
    r"|Aleja|Utca|Stra[sß]e|Gasse|Weg|Laan|Straat|Sokak|Cadde|Caddesi|Odos|Leoforos"
)
_STREET_TAIL = (
    r"stra[sß]e|str|gasse|allee|platz|weg|damm|ufer|gatan|gata|gate|gaten|vegen|veien|vej|vägen|väg|v[aä]gen|gade|stræde"
    r"|laan|straat|gracht|plein|kade|dreef|singel|tie|katu|kuja|polku|utca|útja|ulica|ulice|cesta|iela|gatve|tänav"
    r"|sokak|sokağı|caddesi"
)
# The same tails as literals, for the prefilter ("[sß]" and "v[aä]" spelled out).
_STREET_TAIL_WORDS = tuple(sorted(_literals(_STREET_TAIL)))
_PARTICLES = r"de|del|della|dei|degli|des|du|da|do|dos|das|la|le|les|di|von|van|der|den|el|al|y|e"
_INTL_WORD = r"(?:\p{Lu}[\p{L}'.\-]*|\p{Ll}[\p{L}'\-]{2,}|\d{1,3}(?:st|nd|rd|th|\.))"
STREET_RULES = (
    Rule(
        "street_number_name_suffix",
        re.compile(
            r"\b(?P<value>(?:\d{1,6}\s+)?\d{1,6}[A-KM-Z]?(?:-\d{1,4})?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
            + r"(?:"
            + _STREET_NAME_WORD
            + r"\s+){1,4}"
            + _STREET_SUFFIX_ANYCASE
            + r"(?![A-Za-z])(?<!\b(?i:dr)(?=\.?\s+\p{Lu}))"
            + _UNIT
            + _CITY_STATE_ZIP
            + r")",
            re.VERSION1,
        ),
        0.8,
    ),
    Rule("po_box", _c(r"\b(?P<value>p\.?\s?o\.?\s*box\s+\d{1,6})\b"), 0.8),
    # Street type first, house number last: "Via Tasso 129", "Rue de Piétrain 371", "ul. Chrzanowska 61".
    Rule(
        "street_type_name_number",
        re.compile(
            r"(?<![\w.])(?P<value>(?:\d{1,6}\s+)?(?:"
            + _STREET_PREFIX
            + r")\s+(?:(?i:"
            + _PARTICLES
            + r")\s+)*"
            + _INTL_WORD
            + r"(?:\s+(?:(?i:"
            + _PARTICLES
            + r")\s+)*"
            + _INTL_WORD
            + r"){0,3}\s+\d{1,5}[A-Za-z]?\b\.?"
            + _UNIT
            + r")",
            re.VERSION1,
        ),
        0.75,
    ),
    # Compound street names with the type as a suffix, then the number: "Strickstrasse 61", "Nybyvägen 65".
    Rule(
        "compound_street_number",
        re.compile(
            r"(?<![\w.])(?P<value>(?:\d{1,6}\s+)?(?:" + _INTL_WORD + r"\s+){0,2}\p{L}{2,}(?i:" + _STREET_TAIL + r")\.?"
            r"\s+\d{1,5}[A-Za-z]?\b\.?" + _UNIT + r")",
            re.VERSION1,
        ),
        0.75,
        prefilter=_word_then(_STREET_TAIL_WORDS, re.compile(r"\.?\s+\d", re.VERSION1)),
    ),
    # After an address cue: "lives on Joaquin Suarez 2906", "his address: 5366 Pivovarská 276".
    Rule(
        "address_cue",
        re.compile(
            r"(?i:\baddress(?:\s+is)?\s*:?|\blives?\s+(?:on|at)|\bresides?\s+(?:on|at)|\blocated\s+(?:on|at))"
            r"\s+(?:(?i:the)\s+(?:\w+\s+){1,3}(?i:of)\s+)?(?P<value>(?:\d{1,6}\s+)?"
            + _INTL_WORD
            + r"(?:\s+"
            + _INTL_WORD
            + r"){0,3}\s+\d{1,5}[A-Za-z]?\b|\d{1,6}\s+"
            + _INTL_WORD
            + r"(?:\s+"
            + _INTL_WORD
            + r"){0,3})",
            re.VERSION1,
        ),
        0.7,
    ),
    # US military mail: "Unit 4719 Box 7394 DPO AP 70942", "PSC 1437, Box 3833 APO AA 66791", "USNS Reed FPO AE 12382".
    Rule(
        "military_mail",
        re.compile(
            r"\b(?P<value>(?:(?:Unit|PSC|CMR)\s+\d{3,5},?\s+Box\s+\d{3,5}|USNS\s+\p{L}+|USNV\s+\p{L}+|USS\s+\p{L}+"
            r"|USCGC\s+\p{L}+)\s+(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5})\b",
            re.VERSION1,
        ),
        0.85,
    ),
    Rule("apt_suite", _c(r"\b(?P<value>(?:apt|apartment|suite)\.?\s*\#?\s*\d{1,5}[A-Z]?)\b"), 0.7),
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
        _c(
            r"(?:\bnpi|\bnational\s+provider\s+(?:identifier|id|number)|\bprovider\s+(?:id|number|\#))"
            + _GAP
            + _NPI_VALUE
        ),
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

    def __init__(
        self, non_name_words: Iterable[str] = (), stop_words: Iterable[str] = (), english_words: Iterable[str] = ()
    ) -> None:
        self._stop = frozenset(w.casefold() for w in stop_words) | self._EXTRA_STOP
        self._blocked = frozenset(w.casefold() for w in non_name_words) | self._stop
        self._english = frozenset(w.casefold() for w in english_words) | self._blocked

    def could_be_name(self, word: str) -> bool:
        """True when `word` is not a known English verb/adjective/adverb/stop word (nor an inflection of one)."""
        w = word.casefold().strip(".'-")
        if len(w) < 2 or not w.isalpha() and not w.replace("'", "").replace("-", "").isalpha():
            return False
        return not _inflected_in(w, self._blocked)

    def is_blocked_form(self, word: str) -> bool:
        """The word itself (no inflection) is a verb/adjective/adverb or stop word: "Apt", "Aware"."""
        return word.casefold().strip(".'-") in self._blocked

    def is_stop(self, word: str) -> bool:
        """A stop word or one of the cue words ("aware", "bedside") that never start a name."""
        return word.casefold().strip(".'-") in self._stop

    def is_rare(self, word: str) -> bool:
        """Not an English word of any part of speech (WordNet nouns included): "Quartermain", "Kimbrough"."""
        w = word.casefold().strip(".'-")
        return len(w) >= 4 and w.replace("'", "").replace("-", "").isalpha() and not _inflected_in(w, self._english)


def _inflected_in(w: str, words: frozenset[str]) -> bool:
    """`w` or the stem of a regular inflection of it is in `words` ("-es" only after s, x, z, ch, sh, o: so "Hayes"
    and "Sparkes" are not forms of "hay" and "spark")."""
    if w in words:
        return True
    for suffix, repl in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("ied", "y"), ("ies", "y"), ("s", ""),
                         ("ly", "")):  # fmt: skip
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and w[: len(w) - len(suffix)] + repl in words:
            return True
    if w.endswith("es") and len(w) >= 5 and w[:-2].endswith(("s", "x", "z", "ch", "sh", "o")) and w[:-2] in words:
        return True
    return False


def _case_of(text: str, start: int, end: int) -> str:
    """ "upper" or "lower" when the text around a span is (mostly) one case, else "mixed": capitals only carry
    information in mixed-case text."""
    window = text[max(0, start - 80) : end + 80]
    letters = [c for c in window if c.isalpha()]
    if len(letters) < 12:
        return "mixed"
    upper = sum(c.isupper() for c in letters)
    if upper > 0.6 * len(letters):
        return "upper"
    if upper <= 0.02 * len(letters):
        return "lower"
    return "mixed"


_NAME_WORD = r"[A-Za-z][A-Za-z'\-]{1,24}"
_TITLE = r"(?:dr|mr|mrs|ms|miss|mx|prof|doctor)"
_RELATION = (
    r"(?:wife|husband|spouse|son|sons|daughter|daughters|dtr|sister|sisters|brother|brothers|mother|father|mom|dad"
    r"|aunt|uncle|niece|nephew|grandson|granddaughter|grandmother|grandfather|fiance|fiancee|boyfriend|girlfriend"
    r"|partner|friend|neighbor|cousin|hcp|guardian|sil|dil|stepson|stepdaughter)"
)
_CREDENTIAL = r"(?:RN|R\.N\.|RRT|NP|MD|M\.D\.|PA-C|DO|RPh|PharmD|LPN|CNA|LICSW|MSW|CRNA|APRN|FNP|BSN|MSN|PhD)"


def _name_validator(gate: NameGate, max_words: int, titled: bool = False) -> Validator:
    """Keep the leading words that can be a name. With `titled` (after "Dr."/"Mr."), a capitalised word in
    mixed-case text only has to avoid the stop words: "Dr. Frost", "Dr. Manning" are names there."""

    def validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
        start = match.start("value")
        words = list(re.finditer(r"[A-Za-z][A-Za-z'\-]*", value))[:max_words]
        kept_end = None
        mixed = titled and _case_of(match.string, start, match.end("value")) == "mixed"
        for i, w in enumerate(words):
            # A single-letter initial is fine before or inside a name ("B. GILL", "HERMAN W. EMPERATRICE").
            if len(w.group()) == 1 and (i > 0 or len(words) > 1):
                continue
            word = w.group()
            if mixed and word[0].isupper() and not word.isupper() and not gate.is_blocked_form(word):
                pass  # only the exact word is checked: "Dr. Manning" is not a form of "man"
            elif not gate.could_be_name(word):
                break
            kept_end = start + w.end()
            if i == 0 and w.group().endswith("'s"):
                kept_end -= 2
                break
        if kept_end is None or kept_end <= start:
            return None
        return (start, kept_end)

    return validate


def _rare_name_validator(gate: NameGate, max_words: int) -> Validator:
    """For weak cues ("nurse", "per"): a capitalised non-stop word in mixed-case text, else a word that is not
    English at all. Every word up to `max_words` must pass; initials are skipped."""

    def validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
        start = match.start("value")
        mixed = _case_of(match.string, start, match.end("value")) == "mixed"
        kept_end = None
        for w in list(re.finditer(r"[A-Za-z][A-Za-z'\-]*", value))[:max_words]:
            word = w.group()
            if len(word) == 1:
                continue
            if word.casefold() in _MICROBE_EPITHETS or gate.is_stop(word):
                break
            if mixed:
                ok = word[0].isupper() and not word.isupper() and gate.could_be_name(word)
            else:
                ok = gate.is_rare(word)
            if not ok:
                break
            kept_end = start + w.end()
        if kept_end is None:
            return None
        return (start, kept_end)

    return validate


# "E. coli", "S. aureus": initial-plus-word pairs that are bacteria, not clinicians.
_MICROBE_EPITHETS = frozenset(
    {
        "coli", "diff", "difficile", "aureus", "pylori", "pneumoniae", "aeruginosa", "faecalis", "faecium", "albicans",
        "glabrata", "epidermidis", "marcescens", "cloacae", "mirabilis", "influenzae", "jirovecii", "carinii",
        "fragilis", "perfringens", "botulinum", "tetani", "trachomatis", "gonorrhoeae", "pallidum", "burgdorferi",
        "tuberculosis", "avium", "monocytogenes", "pyogenes", "agalactiae", "viridans", "baumannii", "maltophilia",
        "oxytoca", "enterica", "typhi", "jejuni", "vulnificus", "neoformans", "fumigatus", "gondii", "vaginalis",
        "lamblia", "cholerae", "pertussis", "meningitidis", "catarrhalis", "hominis", "lugdunensis",
        "saprophyticus", "haemolyticus", "hemolyticus", "sonnei", "flexneri", "krusei", "parapsilosis", "tropicalis",
        "acnes", "mutans", "sanguinis", "mitis", "bovis", "marinum", "kansasii", "abscessus", "chelonae", "fortuitum",
        "dubliniensis", "auris", "capitis", "ducreyi", "henselae", "quintana", "rickettsii", "prowazekii",
    }
)  # fmt: skip


def person_rules(gate: NameGate) -> tuple[Rule, ...]:
    """Name patterns; built at run time because the word lists come from the loaded spaCy model."""
    two_names = rf"(?P<value>{_NAME_WORD}(?:\s+(?:[A-Za-z]\.\s*)?{_NAME_WORD})?)"
    initial_two = rf"(?P<value>(?:[A-Za-z]\.\s*)?{_NAME_WORD}(?:\s+(?:[A-Za-z]\.\s*)?{_NAME_WORD})?)"
    initial_surname = r"(?P<value>[A-Z]\.\s?[A-Z][A-Za-z'\-]{2,})"
    return (
        Rule("title", _c(rf"\b{_TITLE}s?(?:\.\s*|\s+|'\s*){initial_two}"), 0.85, _name_validator(gate, 3, titled=True)),
        # "Dr. Rakusin and Toolis aware", "Drs' Ballou and Dutter": a second name joined to a titled one.
        Rule(
            "title_and",
            _c(rf"\b{_TITLE}s?(?:\.\s*|\s+|'\s*){_NAME_WORD}\s+(?:and|&)\s+(?P<value>{_NAME_WORD})"),
            0.75,
            _name_validator(gate, 1, titled=True),
        ),
        # "E. WELSH AWARE", "B. KARGAS PA", "per K. Abrams", "by C. Bertha": an initial and a surname with a cue.
        Rule(
            "initial_surname_cue_after",
            re.compile(
                initial_surname + r"(?=\s*[,\-(]?\s*(?i:aware|notified|paged|called|informed|made\s+aware|in\s+to"
                r"|at\s+(?:the\s+)?bedside|here\s+to|to\s+see|saw|placed|placing|evaluated|consulted)\b"
                r"|\s*,?\s*(?:PA|NP|MD|RN|RRT|PA-C|HO|pa|np|md|rn|rrt)\b)",
                re.VERSION1,
            ),
            0.75,
            _rare_name_validator(gate, 1),
        ),
        Rule(
            "initial_surname_cue_before",
            re.compile(
                r"(?i:\b(?:per|by|with|w/|paged|called|notified|informed|spoke\s+(?:with|to)|discussed\s+with"
                r"|aware|to\s+(?:see|speak\s+with)))\s+" + initial_surname,
                re.VERSION1,
            ),
            0.75,
            _rare_name_validator(gate, 1),
        ),
        # Clinical roles before a name: "NP Wolfe aware", "IV nurse Virginia Sallese", "HO SCHWARZ".
        Rule(
            "role",
            re.compile(
                r"\b(?:NP|HO|RN|MD|RRT|(?i:resident|attending|fellow|intern|nurse|pharmacist|social\s+worker"
                r"|case\s+manager|physician|surgeon|cardiologist|pcp|caregiver|contact\s+person))"
                rf",?\s+(?P<value>{_NAME_WORD}(?:\s+{_NAME_WORD})?)",
                re.VERSION1,
            ),
            0.7,
            _rare_name_validator(gate, 2),
        ),
        # Signature lines: "irene snell, rn", "barbara j. parrilli bsn/rn", "s. roberto rrt".
        Rule(
            "signature",
            _c(
                r"(?m)^[ \t]*(?P<value>(?:[a-z]\.\s*)?[a-z][a-z'\-]+(?:\s+[a-z]\.)?(?:\s+[a-z][a-z'\-]+){0,2})\s*,?\s*"
                r"(?:(?:bsn|msn|ccrn|rn)\s*/\s*)?(?:rn|r\.n\.|rrt|np|lpn|bsn|msn|ccrn|cna|pa-c|sn|snp)\b[ \t.]*$"
            ),
            0.75,
            _name_validator(gate, 4),
        ),
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
            prefilter=_contains(_c(rf"[,(\-]\s*{_RELATION}\b")),
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


# --- Places: hospitals, wards, towns, from the words around them -------------------------------------------
_FACILITY = (
    r"(?:(?i:hospital|hosp\.?|medical\s+cent(?:er|re)|med\.?\s+ctr\.?|memorial(?:\s+hospital)?|clinic|infirmary"
    r"|health\s*care\s+cent(?:er|re)|health\s+cent(?:er|re)|health\s+system|rehab(?:ilitation)?(?:\s+(?:cent(?:er|re)"
    r"|hospital|facility))?|nursing\s+(?:home|cent(?:er|re)|facility)|assisted\s+living|campus|hospice|sanatorium"
    r"|care\s+cent(?:er|re)|senior\s+living|manor|convalescent\s+(?:home|cent(?:er|re)))|VA(?:MC)?|VAH)(?![\w'])"
)
# Words that describe a hospital without naming it ("outside hospital", "county hospital", "the rehab").
_GENERIC_PLACE = frozenset(
    {
        "outside", "osh", "local", "area", "nearby", "county", "community", "general", "university", "regional",
        "state", "city", "private", "psychiatric", "psych", "children's", "childrens", "veterans", "teaching",
        "other", "another", "same", "previous", "prior", "different", "new", "old", "acute", "subacute", "inpatient",
        "outpatient", "pulmonary", "cardiac", "physical", "nursing", "home", "day", "rehab", "rehabilitation",
        "hospital", "medical", "center", "clinic", "health", "care", "memorial", "campus", "main", "east", "west",
        "north", "south", "pain", "wound", "dialysis", "cancer", "heart", "eye", "dental", "va", "mental", "long",
        "term", "short", "skilled", "transitional", "family", "primary", "urgent", "walk", "free", "follow",
        "followup", "f/u", "pt", "ot", "slp", "micu", "sicu", "ccu", "icu", "ed", "er", "ew", "or", "floor",
        "specialty", "women's", "womens", "men's", "geriatric", "senior", "living", "assisted", "her", "his",
    }
)  # fmt: skip
# ICU and unit acronyms and destinations that follow "transferred to" in every note.
_UNIT_WORD = re.compile(
    r"^(?:[a-z]{0,3}icu|[a-z]{0,3}ccu|[a-z]{0,2}sru|c?pacu|ltach?|snf|rehab|floor|tele|telemetry|ward|unit|room|bed"
    r"|pod|step|stepdown|home|hospice|dialysis|cath|lab|ir|ct|mri|us|or|ed|er|ew|osh|nh|ecf|ltc|vna|gi|ep|cvl|nicu"
    r"|picu|hd|cvicu|radiology|surgery|chair|commode|bathroom|shower|ambulance|helicopter|medflight|morgue)$",
    re.IGNORECASE,
)
_STATE_NAMES = (
    r"Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois"
    r"|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri"
    r"|Montana|Nebraska|Nevada|New\s+Hampshire|New\s+Jersey|New\s+Mexico|New\s+York|North\s+Carolina|North\s+Dakota"
    r"|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode\s+Island|South\s+Carolina|South\s+Dakota|Tennessee|Texas|Utah|Vermont"
    r"|Virginia|Washington|West\s+Virginia|Wisconsin|Wyoming|Puerto\s+Rico"
)
# State abbreviations that are not also credentials or words ("MD", "PA", "MA", "IN", "OR", "ME", "OK", "HI", "ID",
# "CT", "DE" are left to the ZIP-code rule: "Smith, MD" is a physician).
_SAFE_STATES = (
    "AL|AK|AZ|AR|CA|CO|FL|GA|IL|IA|KS|KY|LA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV"
    "|WI|WY|DC|PR"
)
_PLACE_WORD = r"(?:\p{Lu}[\p{L}'\-]+|\p{Lu}\.)"
_PLACE_WORD_ANY = r"[\p{L}][\p{L}'\-]+"
_RESIDENCE_CUE = (
    r"(?:lives?|living|lived|resides?|residing|moved|relocated|relocating|born|raised|grew\s+up|originally|native"
    r"|based|located|retired|vacationing|vacation|visiting|travell?ed|travell?ing|trip|flew|drove|arrived|came|home)"
    r"\s+(?:here\s+|there\s+|back\s+|down\s+|up\s+|out\s+)?(?:in|to|from|at|near|of|outside\s+of|outside)"
)


def _place_validator(gate: NameGate, strong: bool) -> Validator:
    """Leading place words: capitalised and not stop/verb/adjective words in mixed-case text; in one-case text
    (nursing shorthand) the cue must be strong and the word not a verb/adjective, or the word not English at all."""

    def validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
        start = match.start("value")
        text = match.string
        case = _case_of(text, start, match.end("value"))
        kept_end = None
        for w in re.finditer(r"[\p{L}][\p{L}'\-.]*", value):
            word = w.group().rstrip(".")
            low = word.casefold()
            if low in _GENERIC_PLACE or _UNIT_WORD.match(word) or gate.is_stop(word) or _MONTH_OR_DAY.match(word):
                break
            if case == "mixed":
                ok = word[:1].isupper() and (gate.could_be_name(word) or word[:1].isupper() and kept_end is not None)
                if ok and word.isupper() and len(word) <= 4:
                    ok = False  # acronyms in mixed-case text
            elif strong:
                ok = gate.could_be_name(word)
            else:
                ok = gate.is_rare(word) and len(word) >= 4
            if not ok:
                break
            kept_end = start + w.start() + len(word)
        if kept_end is None or _STATE_ONLY.match(text[start:kept_end]):
            return None  # a US state alone is not PHI (HIPAA keeps states)
        return (start, kept_end)

    return validate


_STATE_ONLY = re.compile(r"^(?i:" + _STATE_NAMES + r"|" + _STATES + r")$", re.VERSION1)
_MONTH_OR_DAY = re.compile(
    r"^(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?|mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:rs(?:day)?)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?|today|tomorrow|yesterday|tonight|morning|evening|night|christmas|easter)$",
    re.IGNORECASE,
)


def _facility_validator(gate: NameGate) -> Validator:
    """Keep the name words right before a facility word ("Calvert Hospital", "UNION MEMORIAL", "Zagaria campus"),
    dropping leading generic words ("the outside hospital" -> nothing)."""

    def validate(value: str, match: re.Match[str]) -> tuple[int, int] | None:
        start = match.start("value")
        name_end = match.start("facility")
        text = match.string
        case = _case_of(text, start, name_end)
        if case == "mixed" and not match.group("facility")[:1].isupper():
            return None  # "cont rehab", "acute rehab": a named facility is capitalised in mixed-case text
        words = list(re.finditer(r"[\p{L}][\p{L}'\-.]*", text[start:name_end]))
        first = None
        for w in reversed(words):
            word = w.group().rstrip(".")
            low = word.casefold()
            if low in {"st", "saint", "mt", "mount", "ste"} and first is not None:
                first = start + w.start()
                continue
            if low in _GENERIC_PLACE or _UNIT_WORD.match(word) or gate.is_stop(word) or _MONTH_OR_DAY.match(word):
                break
            ok = (word[:1].isupper() and not gate.is_stop(word)) if case == "mixed" else gate.could_be_name(word)
            if not ok:
                break
            first = start + w.start()
        if first is None:
            return None
        return (first, match.end("facility"))

    return validate


def location_rules(gate: NameGate) -> tuple[Rule, ...]:
    """Place patterns; built at run time because the word lists come from the loaded spaCy model."""
    return (
        Rule(
            "facility_name",
            re.compile(
                r"(?<![\w'])(?P<value>(?:" + _PLACE_WORD_ANY + r"[ \t\-]+){1,3}(?P<facility>" + _FACILITY + r"))",
                re.VERSION1,
            ),
            0.75,
            _facility_validator(gate),
        ),
        # "transferred to Quartermain 2", "admitted to KIMBROUGH", "transferred from Mazur campus".
        Rule(
            "transfer_cue",
            _c(
                r"\b(?:transfer(?:r?ed|ring)?|xfer(?:r?ed)?|tx'?d|admitted|readmitted|discharged|returned|sent"
                r"|brought|taken|went|presented|arrived|evaluated\s+by|screened\s+by|placement\s+at|accepted\s+(?:at|by)"
                r"|lives)\s+(?:back\s+)?(?:to|from|at|in)?\s*(?:the\s+)?(?P<value>"
                + _PLACE_WORD_ANY
                + r"(?:[ \t]+"
                + _PLACE_WORD_ANY
                + r")?)(?=\s*\d{0,2}\b)"
            ),
            0.7,
            _place_validator(gate, strong=False),
        ),
        # "lives in Hampton", "moved to Seattle", "son in PIKESVILLE", "daughter (from Miami)".
        Rule(
            "residence_cue",
            _c(
                r"\b(?:" + _RESIDENCE_CUE + r"|(?:" + _RELATION + r")\s+(?:who\s+lives\s+)?(?:in|from))\s+"
                r"(?:the\s+)?(?P<value>" + _PLACE_WORD_ANY + r"(?:[ \t\-]+" + _PLACE_WORD_ANY + r"){0,2})"
            ),
            0.7,
            _place_validator(gate, strong=True),
        ),
        # "Springfield, Illinois", "Austin, TX": a city before a US state.
        Rule(
            "city_state",
            re.compile(
                r"(?<![\w'])(?P<value>"
                + _PLACE_WORD
                + r"(?:[ \t]+"
                + _PLACE_WORD
                + r"){0,2},[ \t]*(?:"
                + _STATE_NAMES
                + r"|(?:"
                + _SAFE_STATES
                + r")(?![\w.]))|\p{Lu}{3,}(?:[ \t]+\p{Lu}{3,}){0,2},[ \t]*(?:"
                + _SAFE_STATES
                + r")(?![\w.]))",
                re.VERSION1,
            ),
            0.7,
            _place_validator(gate, strong=True),
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
        RegexRecognizer("LOCATION", location_rules(gate), "PlaceCueRecognizer"),
    ]


def deny_list_recognizer(entity: str, terms: Sequence[str]) -> RegexRecognizer:
    """Terms the policy says are always PHI (names of known patients or staff), matched as whole words."""
    alternatives = "|".join(re.escape(t.strip()) for t in sorted(terms, key=len, reverse=True) if t.strip())
    rule = Rule("deny_list", _c(rf"(?<![\w])(?P<value>{alternatives})(?![\w])"), 1.0)
    return RegexRecognizer(entity, (rule,), f"DenyList{entity.title().replace('_', '')}")
