"""Street addresses (US, international, military mail) and ZIP codes vouched for by a state or the word 'zip'."""

from __future__ import annotations

import regex as re

from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import Rule
from phiwall.recognizers.base import _c
from phiwall.recognizers.base import _literals
from phiwall.recognizers.base import _word_then
from phiwall.recognizers.base import register
from phiwall.recognizers.person import _case_of

# --- US street addresses ---------------------------------------------------------------------------------------
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Court|Ct|Way|Place|Pl|Terrace|Ter"
    r"|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Plaza|Loop|Pike|Alley|Crossing|Row|Route|Rte"
    r"|Turnpike|Tpke|Expressway|Broadway)"
)
_STREET_SUFFIX_ANYCASE = "(?i:" + _STREET_SUFFIX + r")\.?"
# Named groups `unit` and `zip`: the shorthand validator asks whether either vouches for an address.
_UNIT = r"(?P<unit>,?\s*(?i:apt|apartment|suite|ste|unit|fl|floor|room|rm|\#)\.?\s*\#?\s*[A-Z0-9\-]{1,6})?"
_CITY_STATE_ZIP = (
    r"(?:,?\s+[A-Z][A-Za-z.'\-]+(?:\s+[A-Z][A-Za-z.'\-]+){0,2},?\s+[A-Z]{2}\.?(?:\s+(?P<zip>\d{5}(?:-\d{4})?))?)?"
)
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
# Abbreviated street types that ALL-CAPS nursing shorthand uses for something else: ST segment, sinus
# tachycardia ("SR TO ST"), chest tube and CT scan ("MEDIASTINAL CT"), doctor, place, court...
_SHORTHAND_SUFFIX = frozenset({"st", "ct", "dr", "pl", "av", "ave", "rd", "ln", "ter", "cir", "sq", "trl", "rte"})
_NUMBER_TAIL = re.compile(r"\d[.,/:]$|\d-$")
_DECIMAL_HEAD = re.compile(r"\d+[.,]\d")


def number_is_no_house_number(text: str, start: int) -> bool:
    """An "address" that starts inside a number ("6.[0 TRACH", "10/[3 PERSANTINE") or with a decimal ("97.3 Bair
    Hugger") is a measurement or a date before ordinary words: house numbers are whole and stand alone."""
    inside = _NUMBER_TAIL.search(text[max(0, start - 2) : start]) is not None
    return inside or _DECIMAL_HEAD.match(text, start) is not None


def _shorthand_validator(value: str, match: re.Match[str]) -> tuple[int, int] | None:
    """Reject the number-words-suffix shapes of clinical shorthand, keep real addresses.

    - The house number must not continue a number: "6.0 TRACH ... TR", "10/3 PERSANTINE ... ST" are a decimal
      and a date before ordinary words.
    - In ALL-CAPS text an abbreviated street type ("ST", "CT", "DR") is a clinical abbreviation unless a ZIP
      code or a unit vouches for the address: "HR 80-103 SR TO ST", "2 MEDIASTINAL CT" are vitals and tubes, while
      "12 OAK ST APT 4" and "12 OAK ST, BOSTON, MA 02118" stay addresses.
    Found on the tune half's nursing notes (9 of the 9 false addresses there came from this rule)."""
    start, end = match.span("value")
    text = match.string
    if number_is_no_house_number(text, start):
        return None
    suffix = match.group("suffix").rstrip(".").casefold()
    vouched = match.group("unit") or match.group("zip")
    if suffix in _SHORTHAND_SUFFIX and not vouched and _case_of(text, start, end) == "upper":
        return None
    return (start, end)


_INTL_WORD = r"(?:\p{Lu}[\p{L}'.\-]*|\p{Ll}[\p{L}'\-]{2,}|\d{1,3}(?:st|nd|rd|th|\.))"
STREET_RULES = (
    Rule(
        "street_number_name_suffix",
        re.compile(
            r"\b(?P<value>(?:\d{1,6}\s+)?\d{1,6}[A-KM-Z]?(?:-\d{1,4})?\s+(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
            + r"(?:"
            + _STREET_NAME_WORD
            + r"\s+){1,4}"
            + r"(?P<suffix>"
            + _STREET_SUFFIX_ANYCASE
            + r")(?![A-Za-z])(?<!\b(?i:dr)(?=\.?\s+\p{Lu}))"
            + _UNIT
            + _CITY_STATE_ZIP
            + r")",
            re.VERSION1,
        ),
        0.8,
        _shorthand_validator,
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


@register
class StreetAddressRecognizer(RegexRecognizer):
    """Street addresses, PO boxes, military mail, Apt/Suite."""

    ENTITY = "STREET_ADDRESS"
    RULES = STREET_RULES


@register
class ZipCodeRecognizer(RegexRecognizer):
    """ZIP codes after a state abbreviation or a zip cue."""

    ENTITY = "ZIP_CODE"
    RULES = ZIP_RULES
