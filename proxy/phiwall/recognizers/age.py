"""Ages over 89 (HIPAA: ages 90 and above are identifying; younger ages are not)."""

from __future__ import annotations

from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import Rule
from phiwall.recognizers.base import _c
from phiwall.recognizers.base import register

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


@register
class AgeOver89Recognizer(RegexRecognizer):
    """92 yo, 95 y/o M, her 90s, nonagenarian, age 97."""

    ENTITY = "AGE_OVER_89"
    RULES = AGE_RULES
