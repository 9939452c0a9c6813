"""Places from the words around them: named facilities, transfer and residence cues, "City, State".

The trained tagger finds most places; these cue rules add the hospitals, wards and towns of nursing shorthand in
the recall-first ensemble (text_phi). A US state alone is never reported (HIPAA keeps states).
"""

from __future__ import annotations

import regex as re

from phiwall.recognizers.address import _STATES
from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import Rule
from phiwall.recognizers.base import Validator
from phiwall.recognizers.base import _c
from phiwall.recognizers.base import register
from phiwall.recognizers.person import _RELATION
from phiwall.recognizers.person import NameGate
from phiwall.recognizers.person import _case_of
from phiwall.recognizers.person import shared_gate

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


@register
class PlaceCueRecognizer(RegexRecognizer):
    """Facilities, places after transfer/residence cues, and "City, State"."""

    ENTITY = "LOCATION"

    def __init__(self) -> None:
        super().__init__(rules=location_rules(shared_gate()))
