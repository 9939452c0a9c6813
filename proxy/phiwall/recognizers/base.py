"""The building blocks of phiwall's pattern recognizers: `Rule`, `RegexRecognizer`, the class registry.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

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


REGISTRY: list[type[LocalRecognizer]] = []
"""Every recognizer class, in registration order (`register`); `phiwall.recognizers.build_all` instantiates them."""


def register[T: type[LocalRecognizer]](cls: T) -> T:
    """Class decorator: add a recognizer class to `REGISTRY` (Presidio registers recognizers by class, too)."""
    REGISTRY.append(cls)
    return cls


class RegexRecognizer(LocalRecognizer):
    """A Presidio recognizer made of `Rule`s whose `value` group (not the whole match) is the finding.

    Presidio's own PatternRecognizer reports the whole match, which would put the context word ("MRN:") into
    the span; a redaction must cover the identifier only.
    """

    ENTITY: ClassVar[str] = ""
    RULES: ClassVar[tuple[Rule, ...]] = ()

    def __init__(self, entity: str | None = None, rules: Sequence[Rule] | None = None, name: str | None = None) -> None:
        """Subclasses name their entity and rules as class attributes (`ENTITY`, `RULES`) and take no arguments;
        the arguments are for ad-hoc recognizers such as the policy's deny list."""
        self._rules = tuple(self.RULES if rules is None else rules)
        entity = entity or self.ENTITY
        self._label: str = name or type(self).__name__
        if not entity or not self._rules:
            raise ValueError(f"{type(self).__name__}: a RegexRecognizer needs an entity and at least one rule")
        super().__init__(supported_entities=[entity], supported_language="en", name=self._label, context=[])

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
            # concurrent: the GIL is released while matching, so the tagger runs meanwhile (text_phi's side pass)
            for match in rule.regex.finditer(text, concurrent=True):
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
                            recognizer=self._label,
                            original_score=rule.score,
                            pattern_name=rule.name,
                            textual_explanation=f"{self._label}:{rule.name}",
                        ),
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self._label,
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


def deny_list_recognizer(entity: str, terms: Sequence[str]) -> RegexRecognizer:
    """Terms the policy says are always PHI (names of known patients or staff), matched as whole words."""
    alternatives = "|".join(re.escape(t.strip()) for t in sorted(terms, key=len, reverse=True) if t.strip())
    rule = Rule("deny_list", _c(rf"(?<![\w])(?P<value>{alternatives})(?![\w])"), 1.0)
    return RegexRecognizer(entity, (rule,), f"DenyList{entity.title().replace('_', '')}")
