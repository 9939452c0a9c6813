"""Phone numbers in the layouts Presidio's phonenumbers matcher scores too low without a context word."""

from __future__ import annotations

import regex as re
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import Rule
from phiwall.recognizers.base import _c
from phiwall.recognizers.base import _contains
from phiwall.recognizers.base import register

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


@register
class PhoneFormatRecognizer(RegexRecognizer):
    """US layouts, dashed numbers, anything after a phone cue, pagers."""

    ENTITY = "PHONE_NUMBER"
    RULES = PHONE_RULES


@register
class WindowedPhoneRecognizer(PhoneRecognizer):
    """Presidio's phonenumbers-based recognizer, run only on digit runs that could be phone numbers.

    phonenumbers' matcher walks the whole text once per region and took ~0.5-1 s on 20 KB of notes; here a cheap
    regex finds candidate runs (7+ digits with phone punctuation) and the matcher sees a small window around each.
    """

    _CANDIDATE = re.compile(r"(?:\+|\(|\b)\d[\d \t().\-]{5,22}\d(?![\d/])")
    _CONTEXT = (
        "tel", "home", "work", "office", "cell", "fax", "pager", "contact", "reach", "reached", "dial", "text",
        "whatsapp",
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(
            context=[*PhoneRecognizer.CONTEXT, *self._CONTEXT],
            supported_regions=(*PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS, "AU"),
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in self._CANDIDATE.finditer(text):
            if not 7 <= sum(c.isdigit() for c in m.group()) <= 15:
                continue
            lo, hi = max(0, m.start() - 4), min(len(text), m.end() + 4)
            for r in super().analyze(text[lo:hi], entities, nlp_artifacts):  # type: ignore[arg-type]
                r.start += lo
                r.end += lo
                results.append(r)
        return results
