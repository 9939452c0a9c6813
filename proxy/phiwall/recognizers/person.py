"""Names: announced by a title, a credential or a family relation (cue rules), or found in the name lists.

Both families complement the trained tagger in a recall-first ensemble (text_phi): the cue rules catch names in
nursing shorthand ("dr. holden aware", "DAUGHTER JANE IN TODAY"); the name-list recognizer catches capitalised
words that are known first names or surnames and never ordinary words (philter-lite's lists, see
training/build_name_lists.py), in mixed-case text only.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import regex as re
from presidio_analyzer import AnalysisExplanation
from presidio_analyzer import LocalRecognizer
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from phiwall.recognizers.base import RegexRecognizer
from phiwall.recognizers.base import Rule
from phiwall.recognizers.base import Validator
from phiwall.recognizers.base import _c
from phiwall.recognizers.base import _contains
from phiwall.recognizers.base import register


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
        # Form labels: "Patient: Margaret Holloway", "Pt name: ...", "Name: ..." (forms, PDFs, lab reports).
        Rule(
            "label",
            _c(
                r"\b(?:(?:(?:patient|pt|resident|client|member|insured|subscriber|guarantor)\s*)?(?:full\s+)?name"
                rf"|patient|pt)\s*[:=]\s*{two_names}"
            ),
            0.8,
            _name_validator(gate, 3),
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


@dataclass(frozen=True, slots=True)
class NameLists:
    first_names: frozenset[str]
    last_names: frozenset[str]
    not_names: frozenset[str]


_lists: NameLists | None = None
_not_names: frozenset[str] | None = None
_lists_lock = threading.Lock()


def _load() -> dict[str, list[str]]:
    ref = importlib.resources.files("phiwall") / "data" / "name_lists.json.gz"
    data: dict[str, list[str]] = json.loads(gzip.decompress(ref.read_bytes()))
    return data


def not_name_words() -> frozenset[str]:
    """The not-a-name list alone (English and medical words; ~190k), loaded once per process."""
    global _not_names
    with _lists_lock:
        if _not_names is None:
            _not_names = _lists.not_names if _lists is not None else frozenset(_load()["not_names"])
        return _not_names


def name_lists() -> NameLists:
    """All of phiwall/data/name_lists.json.gz (first names and surnames too), loaded once per process."""
    global _lists
    not_names = not_name_words()
    with _lists_lock:
        if _lists is None:
            data = _load()
            _lists = NameLists(frozenset(data["first_names"]), frozenset(data["last_names"]), not_names)
        return _lists


_gate: NameGate | None = None


def shared_gate() -> NameGate:
    """The NameGate over the shipped not-a-name list (English and medical words that are never names)."""
    global _gate
    words = not_name_words()
    with _lists_lock:
        if _gate is None:
            _gate = NameGate(words)
        return _gate


@register
class NameCueRecognizer(RegexRecognizer):
    """Names after titles, relations, roles and credentials, and signature lines."""

    ENTITY = "PERSON"

    def __init__(self) -> None:
        super().__init__(rules=person_rules(shared_gate()))


_TITLE_WORD = re.compile(r"(?<![\w'’.\-])\p{Lu}\p{Ll}+(?:['’\-]\p{Lu}?\p{Ll}+)?(?![\w'’\-])", re.VERSION1)
_NOT_A_NAME_CONTEXT = re.compile(
    r"^(?:'s|’s)?\s*(?:-\s*\w+\s+)?(?:disease|syndrome|disorder|palsy|sign|test|reflex|maneuver|lymphoma|sarcoma|"
    r"tumou?r|phenomenon|anomaly|score|scale|criteria|classification|procedure|operation|fracture|ulcer|cyst|"
    r"node|law|triad|ataxia|dystrophy|an(?:a)?emia|encephalopathy|dementia|cells?|virus|county|street|avenue|road)\b",
    re.IGNORECASE,
)
_MONTH_DAY_WORDS = frozenset(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday".split()
)


@register
class NameListRecognizer(LocalRecognizer):
    """Capitalised words that are known first names or surnames and not ordinary words, in mixed-case text.

    A sentence-initial word counts only when the next word is a name too ("Maria Gonzalez called"); runs of name
    words and initials are reported as one span. Eponyms before "disease", "syndrome"... are skipped.
    """

    SCORE = 0.6
    NAME = "NameListRecognizer"

    def __init__(self) -> None:
        super().__init__(supported_entities=["PERSON"], supported_language="en", name=self.NAME, context=[])

    def load(self) -> None:
        """The lists load lazily and once per process (`name_lists`)."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and "PERSON" not in entities:
            return []
        lists = name_lists()
        out: list[RecognizerResult] = []
        words = list(_TITLE_WORD.finditer(text))
        i = 0
        while i < len(words):
            m = words[i]
            if not self._is_name(m.group().casefold(), lists):
                i += 1
                continue
            j = i
            while (
                j + 1 < len(words)
                and self._adjacent(text, words[j].end(), words[j + 1].start())
                and self._is_name(words[j + 1].group().casefold(), lists)
            ):
                j += 1
            start, end = m.start(), words[j].end()
            single = j == i
            i = j + 1
            if single and _sentence_initial(text, start):
                continue
            if _case_of(text, start, end) != "mixed" or _NOT_A_NAME_CONTEXT.match(text[end : end + 40]):
                continue
            out.append(
                RecognizerResult(
                    entity_type="PERSON",
                    start=start,
                    end=end,
                    score=self.SCORE,
                    analysis_explanation=AnalysisExplanation(
                        recognizer=self.NAME, original_score=self.SCORE, textual_explanation=self.NAME
                    ),
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.NAME,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
            )
        return out

    @staticmethod
    def _is_name(low: str, lists: NameLists) -> bool:
        return (
            len(low) >= 3
            and low not in lists.not_names
            and low not in _MONTH_DAY_WORDS
            and (low in lists.last_names or low in lists.first_names)
        )

    @staticmethod
    def _adjacent(text: str, end: int, start: int) -> bool:
        gap = text[end:start]
        return gap in (" ", "  ") or re.fullmatch(r" \p{Lu}\. ", gap, re.VERSION1) is not None


def _sentence_initial(text: str, start: int) -> bool:
    before = text[max(0, start - 3) : start].rstrip(" \t\"'(")
    return not before or before[-1] in ".!?:\n;" or start == 0
