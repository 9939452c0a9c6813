"""PHI in text: the trained PHI tagger plus high-precision patterns, with each text judged once.

Runs on every chat message, so it is built for latency first:

* One `AnalyzerEngine` per process (`_shared_engine`), built from `phiwall/data/presidio_nlp.yaml` on the shipped
  tagger `phiwall/data/phi_tagger` (docs/model-card-phi-tagger.md): a small spaCy NER (tok2vec width 64, no
  static vectors) trained on surrogate PHI in clinical text, loaded from the package directory, never downloaded.
* The recognizers are the classes registered in `phiwall.recognizers` (one per entity): the tagger's spans plus
  context-anchored identifier, date, phone, age, address, e-mail and URL patterns, and Presidio's SSN, card, IP
  and IBAN recognizers. Presidio's lemma-based context enhancer (quadratic in results x tokens) is replaced by a
  window check on the raw text.
* Long texts are cut at line breaks into chunks that run on a small thread pool: spaCy's NER releases the GIL,
  so two chunks on two cores take about half the time.
* History judged once: a text is split into segments at blank lines (the pipeline joins a request's messages
  with one), and each segment's findings are cached under a keyed digest of its exact text
  (`findings_cache`). A conversation's n-th request analyses only its new segments, in one batch.

Findings carry offsets, scores and keyed digests, never the matched text.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import importlib.resources
import logging
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import ClassVar

import regex as re
import spacy
import yaml
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer import EntityRecognizer
from presidio_analyzer import RecognizerRegistry
from presidio_analyzer import RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from spacy.tokens import Doc

from phiwall import recognizers
from phiwall.detectors.findings_cache import CacheBackend
from phiwall.detectors.findings_cache import CachedFinding
from phiwall.detectors.findings_cache import FindingsCache
from phiwall.detectors.findings_cache import MemoryBackend
from phiwall.digest import value_digest
from phiwall.errors import DetectionError
from phiwall.errors import PolicyError
from phiwall.model import Finding
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.recognizers.base import deny_list_recognizer

log = logging.getLogger(__name__)

ENTITIES: tuple[str, ...] = (
    "PERSON", "DATE_OF_BIRTH", "DATE_TIME", "MRN", "ACCESSION_NUMBER", "AGE_OVER_89", "STREET_ADDRESS", "LOCATION",
    "NPI", "DEA", "HEALTH_PLAN_ID", "ACCOUNT_NUMBER", "US_SSN", "PHONE_NUMBER", "EMAIL_ADDRESS", "IP_ADDRESS", "URL",
    "CREDIT_CARD", "US_DRIVER_LICENSE", "US_PASSPORT", "IBAN_CODE", "ZIP_CODE",
)  # fmt: skip
"""The `text_phi` entity vocabulary (docs/architecture.md). Nothing else is ever reported."""

NLP_CONFIG = "presidio_nlp.yaml"
TAGGER_DIR = "phi_tagger"
CHUNK_CHARS = 400  # spaCy input size per chunk; texts are cut at line breaks or sentence ends near this size
PARALLEL_MIN_CHARS = 6000  # below this, the thread hand-off costs more than it saves
SIDE_PASS_MIN_CHARS = 500  # from this length, the pattern recognizers run beside the tagger (see _Engine)
SEGMENT_SEPARATOR = "\n\n"  # phiwall.pipeline.TEXT_JOIN: messages of one request are joined with it
_OPTION_KEYS = frozenset(
    {"score_threshold", "entities", "allow_list", "deny_list", "language", "nlp_threads", "cache_entries"}
)
# The ensemble's operating point, chosen on the tune-dev groups (bench/quality_text.py --half tune-dev): the
# name-list recognizer found nothing the tagger and the cue rules missed there and flagged medical questions
# ("Bland diet"), so it is registered (and tested) but not run. docs/decisions.md has the numbers.
ENSEMBLE_EXCLUDE = frozenset({"NameListRecognizer"})
DEFAULT_CACHE_ENTRIES = 20_000
CACHE_MAX_BYTES = 16 * 1024 * 1024
CACHE_TTL_SECONDS = 3600.0

# Disease and sign eponyms that a name tagger may call PERSON, minus those that are also common surnames ("Wilson",
# "Turner", "Jones": the tagger's context decides those, and "X disease" is caught by the eponym tail in
# recognizers/tagger.py). Policies can add more with `allow_list`.
DEFAULT_ALLOW_LIST: frozenset[str] = frozenset(
    {
        "alzheimer", "asperger", "babinski", "behcet", "brugada", "burkitt",
        "chagas", "charcot", "crohn", "duchenne", "ebstein", "epstein", "fabry",
        "gaucher", "guillain", "hashimoto", "hirschsprung", "hodgkin", "kaposi",
        "kawasaki", "klinefelter", "lou gehrig", "gehrig", "meniere", "munchausen",
        "parkinson", "peyronie", "raynaud", "sjogren", "sjögren",
        "tourette", "von willebrand", "willebrand", "wilms",
        "korsakoff", "apgar", "gleason", "glasgow", "coombs", "foley", "ganz", "heimlich", "holter",
        "doppler", "pap", "bence", "kussmaul", "cheyne", "mcburney", "trendelenburg",
        "valsalva", "romberg", "tinel", "phalen", "lachman", "mcmurray", "kernig", "brudzinski",
        "rovsing", "hashimoto's",
        "dubin", "wpw", "ehlers", "danlos", "prader", "willi", "angelman",
        "zellweger", "niemann", "krabbe", "menkes", "lesch", "nyhan",
        "creutzfeldt", "jakob", "guillain-barre", "guillain-barré", "barré", "barre", "bartter",
        "dupuytren", "fallot", "hartnup",
        "calve", "perthes", "meckel", "osgood", "schlatter",
        "takayasu", "tietze", "wegener", "waldenstrom", "waldenström", "zollinger", "ellison", "medicare",
        "medicaid", "tylenol", "coumadin", "lasix", "heparin", "advil", "motrin", "zoloft", "xanax", "botox",
        # Nursing shorthand the small model takes for names or places when capitalised at a sentence start.
        "abd", "cont", "neuro", "resp", "spont", "desat", "levo", "vanc", "vanco", "ceftaz", "propofol", "reg",
        "sxn", "sxnd", "wnl", "npn", "gtt", "ivf", "prn", "tele", "ngt", "ogt", "peg", "picc", "afeb", "echo",
        "pt", "pts", "aline", "neice", "cabg", "cath", "lytes", "heme", "endo", "psych", "ortho", "cardiac", "renal",
        "pulm", "sats", "vent",
    }
)  # fmt: skip

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True, slots=True)
class _Options:
    score_threshold: float
    entities: frozenset[str]
    allow_list: frozenset[str]
    deny_list: tuple[tuple[str, tuple[str, ...]], ...]
    nlp_threads: int
    cache_entries: int


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
    cache = options.get("cache_entries", DEFAULT_CACHE_ENTRIES)
    if not isinstance(cache, int) or isinstance(cache, bool) or not 0 <= cache <= 1_000_000:
        raise PolicyError("text_phi: cache_entries must be an integer from 0 (no cache) to 1000000")
    return _Options(threshold, entities, frozenset(a for a in allow if a), deny, threads, cache)


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


def tagger_path() -> Path:
    """The shipped tagger's directory inside the installed package."""
    return Path(str(importlib.resources.files("phiwall") / "data" / TAGGER_DIR))


class _LazyPool:
    """A thread pool made on first use: the engine is built in the fork server before workers fork from it, and no
    thread may cross a fork."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self, max_workers: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=self._prefix)
            return self._pool


class _TaggerNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine on the shipped tagger directory, chunked and threaded for long texts, offline."""

    def __init__(self, models: list[dict[str, str]], ner_model_configuration: NerModelConfiguration) -> None:
        super().__init__(models=models, ner_model_configuration=ner_model_configuration)
        self._pool = _LazyPool("phiwall-nlp")
        self.threads = 2
        self.model_path: Path | None = None
        self.model_version = ""

    def load(self) -> None:
        self.nlp = {}  # type: ignore[assignment]  # Presidio declares it None until loaded
        for model in self.models:
            name = model["model_name"]
            if name != TAGGER_DIR:
                # Only the shipped directory: naming a spaCy package could fall through to a download.
                raise DetectionError(f"text_phi: model {name!r} is not the shipped tagger ({TAGGER_DIR})")
            path = tagger_path()
            if not (path / "config.cfg").is_file():
                raise DetectionError("text_phi: the PHI tagger is missing from the package (phiwall/data/phi_tagger)")
            nlp = spacy.load(path)
            self.nlp[model["lang_code"]] = nlp  # type: ignore[index]
            self.model_path = path
            self.model_version = f"{nlp.meta.get('name', '')}-{nlp.meta.get('version', '')}"

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        nlp = self.nlp[language]  # type: ignore[index]
        if len(text) <= CHUNK_CHARS:
            doc = nlp(text)
        else:
            # Short chunks in one batch: the NER transition system steps through all docs of a batch together, so
            # the number of (Python-level) steps is the longest chunk's token count, not the whole text's.
            chunks = split_chunks(text, CHUNK_CHARS)
            if self.threads > 1 and len(text) >= PARALLEL_MIN_CHARS:
                groups = _balanced_groups(chunks, self.threads)
                pool = self._pool.get(self.threads)
                docs = [d for ds in pool.map(lambda g: list(nlp.pipe(g, batch_size=256)), groups) for d in ds]
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


class _WindowContextEnhancer(ContextAwareEnhancer):
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


class _OrderedRegistry(RecognizerRegistry):
    """Presidio's registry, handing out its recognizers in a fixed order: the most trusted source first
    (`_source_rank`), then registration order.

    Why: Presidio returns them as a set, i.e. in memory-address order, and its de-duplication keeps only the first
    of two equal results (same span, type and score) from two recognizers. Which recognizer a finding was credited
    to, and so whether `_resolve_overlaps` kept it, changed from process to process: "Dr. Powell" inside an address
    span stayed a name in one worker and vanished in another. Now the more trusted source is credited, everywhere.
    """

    def get_recognizers(self, *args: Any, **kwargs: Any) -> list[EntityRecognizer]:
        found: list[EntityRecognizer] = super().get_recognizers(*args, **kwargs)
        order = {id(r): i for i, r in enumerate(self.recognizers)}
        return sorted(found, key=lambda r: (-_source_rank(str(getattr(r, "name", ""))), order.get(id(r), len(order))))


AnalyzeFn = Callable[..., list[RecognizerResult]]
_PRECOMPUTED: contextvars.ContextVar[tuple[str, dict[str, list[RecognizerResult]]] | None] = contextvars.ContextVar(
    "phiwall_text_phi_precomputed", default=None
)


def _answer_from_side_pass(rec: EntityRecognizer) -> AnalyzeFn:
    """Let `rec` answer Presidio's sequential recognizer loop from this thread's side pass; return its own analyze.

    Presidio runs the NLP pipeline, then every recognizer one after the other. Only the tagger's recognizer reads
    the NLP artifacts; the ~20 pattern recognizers need the text alone, so `TextPhiDetector.analyze` runs them in a
    side thread while the tagger runs, and Presidio's loop then takes their results from `_PRECOMPUTED` (the
    `regex` module releases the GIL while it matches, numpy while the tagger multiplies). Presidio still sees
    every recognizer with its own id and context words, so context enhancement, score thresholds and
    de-duplication are unchanged, and the findings are identical to the sequential path (tested).
    """
    own: AnalyzeFn = rec.analyze

    def analyze(text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        pre = _PRECOMPUTED.get()
        if pre is not None and pre[0] is text and rec.id in pre[1]:
            return pre[1].pop(rec.id)
        return own(text, entities, nlp_artifacts)

    rec.analyze = analyze  # type: ignore[method-assign]
    return own


@dataclass(frozen=True, slots=True)
class _Engine:
    analyzer: AnalyzerEngine
    nlp: _TaggerNlpEngine
    side: dict[str, AnalyzeFn]  # recognizer id -> its own analyze, for the recognizers that need no NLP artifacts
    side_pool: _LazyPool


_engine: _Engine | None = None
_engine_lock = threading.Lock()
_cache_backend: MemoryBackend | None = None


def _nlp_config_path() -> Path:
    ref = importlib.resources.files("phiwall") / "data" / NLP_CONFIG
    return Path(str(ref))


def _build_engine() -> _Engine:
    """Build the process-wide analyzer from the shipped YAML (loads the tagger: well under a second, once)."""
    with _nlp_config_path().open(encoding="utf-8") as fh:
        conf = yaml.safe_load(fh)
    ner_conf = NerModelConfiguration.from_dict(conf["ner_model_configuration"])
    nlp_engine = _TaggerNlpEngine(models=conf["models"], ner_model_configuration=ner_conf)
    nlp_engine.load()
    registry = _OrderedRegistry(recognizers=recognizers.build_all(ENSEMBLE_EXCLUDE), supported_languages=["en"])
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        context_aware_enhancer=_WindowContextEnhancer(),
    )
    side = {r.id: _answer_from_side_pass(r) for r in registry.recognizers if not isinstance(r, SpacyRecognizer)}
    return _Engine(analyzer, nlp_engine, side, _LazyPool("phiwall-patterns"))


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


def shared_cache_backend(max_entries: int) -> MemoryBackend:
    """The per-process findings store (one per worker), grown to the largest `cache_entries` any policy asks."""
    global _cache_backend
    with _engine_lock:
        if _cache_backend is None:
            _cache_backend = MemoryBackend(max_entries=max_entries, max_bytes=CACHE_MAX_BYTES)
        elif _cache_backend.max_entries < max_entries:
            _cache_backend.max_entries = max_entries
        return _cache_backend


def _possessive_stripped(s: str) -> str:
    s = s.strip().casefold()
    for tail in ("'s", "’s", "s'"):
        if s.endswith(tail):
            return s[: -len(tail)]
    return s


def segments(text: str) -> list[tuple[int, str]]:
    """(offset, segment) pieces of `text` cut after each blank line; the pieces concatenate back to `text`.

    The pipeline joins a request's messages with a blank line, so each old message stays an identical segment
    (and so a cache hit) when the conversation grows.
    """
    out: list[tuple[int, str]] = []
    pos = 0
    while pos < len(text):
        cut = text.find(SEGMENT_SEPARATOR, pos)
        end = len(text) if cut < 0 else cut + len(SEGMENT_SEPARATOR)
        out.append((pos, text[pos:end]))
        pos = end
    return out


@functools.cache
def code_fingerprint() -> str:
    """A digest of the code and data that turn text into findings: this module, the recognizers and the shipped
    data files they read (name and place lists, the tagger's meta.json).

    Why: the findings cache outlives a process when it is shared through Redis (an hour's TTL), and a replica
    running a newer phiwall must not take an older one's findings for the same text. The tagger's version alone
    misses a changed rule; the package version does not change between builds of one release.
    """
    h = hashlib.sha256()
    pkg = importlib.resources.files("phiwall")
    files = [pkg / "detectors" / "text_phi.py", pkg / "data" / "phi_tagger" / "meta.json"]
    files += sorted((f for f in (pkg / "recognizers").iterdir() if f.name.endswith(".py")), key=lambda f: f.name)
    files += sorted((f for f in (pkg / "data").iterdir() if f.name.endswith(".json.gz")), key=lambda f: f.name)
    for f in files:
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _side_pass(side: list[tuple[str, AnalyzeFn]], text: str, entities: list[str]) -> dict[str, list[RecognizerResult]]:
    """Each pattern recognizer's results for `text`, by recognizer id (run in the side thread)."""
    return {rec_id: analyze(text, entities, None) for rec_id, analyze in side}


class TextPhiDetector:
    """Finds the HIPAA identifiers of the `text_phi` vocabulary in a text part.

    Args:
        options: the policy's `detectors.text_phi` mapping: `score_threshold` (0.5), `entities` (restrict),
            `allow_list` (terms never reported, case-insensitive; added to built-in disease eponyms),
            `deny_list` (terms always reported: a list -> PERSON, or a mapping entity -> terms), `language` ("en"),
            `nlp_threads` (2: threads for spaCy on long texts), `cache_entries` (20000 segments judged once per
            worker process; 0 turns the cache off).
        cache_backend: where findings are cached (default: the per-process `MemoryBackend`); the gateway can pass
            a shared store with the same get/set-with-TTL interface.

    Raises:
        PolicyError: an option is invalid.
        DetectionError: the shipped tagger is missing or fails to load.
    """

    name: ClassVar[str] = "text_phi"
    handles: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, options: Mapping[str, Any], cache_backend: CacheBackend | None = None) -> None:
        self._opts = _parse_options(options)
        self._engine = _shared_engine()
        self._engine.nlp.threads = max(self._engine.nlp.threads, self._opts.nlp_threads)
        self._deny: list[EntityRecognizer] = [deny_list_recognizer(e, terms) for e, terms in self._opts.deny_list]
        self._deny_entities = frozenset(e for e, _ in self._opts.deny_list)
        self._entities = sorted(self._opts.entities | self._deny_entities)
        # The pattern recognizers Presidio would run for these entities, for the side pass (see `analyze`).
        self._side = [
            (r.id, self._engine.side[r.id])
            for r in self._engine.analyzer.registry.get_recognizers("en", self._entities)
            if r.id in self._engine.side
        ]
        self.analyses = 0  # texts actually analysed (cache misses batch into one analysis)
        self.cache: FindingsCache | None = None
        if self._opts.cache_entries or cache_backend is not None:
            backend = cache_backend if cache_backend is not None else shared_cache_backend(self._opts.cache_entries)
            self.cache = FindingsCache(backend, self._fingerprint(), CACHE_TTL_SECONDS)

    def _fingerprint(self) -> bytes:
        """Everything that changes findings for the same text; digested into cache keys, never stored."""
        o = self._opts
        parts = [
            self._engine.nlp.model_version, code_fingerprint(), repr(o.score_threshold), ",".join(sorted(o.entities)),
            "\x1f".join(sorted(o.allow_list)), repr(o.deny_list),
        ]  # fmt: skip
        return "\x1e".join(parts).encode("utf-8", "surrogatepass")

    def detect(self, part: Part) -> list[Finding]:
        """Return one Finding per PHI span in `part.text` (offsets, entity, score, digest; never the value).

        Raises:
            DetectionError: the analyzer failed on this text (message names the failure kind only).
        """
        if part.kind is not PartKind.TEXT or not part.text:
            return []
        text = part.text
        try:
            spans = self.spans(text)
        except DetectionError:
            raise
        except Exception as e:
            raise DetectionError(f"text_phi: analysis failed on part {part.id} ({type(e).__name__})") from e
        return [
            Finding(
                detector=self.name,
                entity=entity,
                part_id=part.id,
                score=round(score, 3),
                start=start,
                end=end,
                digest=value_digest(text[start:end]),
                explanation=rule,
            )
            for start, end, entity, score, rule in spans
        ]

    def spans(self, text: str) -> list[CachedFinding]:
        """(start, end, entity, score, rule) per finding, sorted; cached segments are not analysed again.

        Each segment (a message: the pipeline joins messages with a blank line) is analysed on its own, cache or
        not: what is cached under a segment's text must not depend on the messages around it (the tagger reads
        context, and the same message recurs next turn beside other ones), and the cache must not change findings.
        """
        out: list[CachedFinding] = []
        for offset, seg in segments(text):
            hit = self.cache.get(seg) if self.cache is not None else None
            if hit is None:
                hit = self._analyze_spans(seg)
                if self.cache is not None:
                    self.cache.put(seg, hit)
            out.extend((s + offset, e + offset, t, sc, r) for s, e, t, sc, r in hit)
        out.sort(key=lambda f: (f[0], f[1], f[2]))
        return out

    def _analyze_spans(self, text: str) -> list[CachedFinding]:
        self.analyses += 1
        return [
            (r.start, r.end, r.entity_type, float(r.score), _explain(r)) for r in self.analyze(text) if r.end > r.start
        ]

    def analyze(self, text: str) -> list[RecognizerResult]:
        """Presidio results after phiwall's filters, sorted by offset (uncached). Used by `spans` and benchmarks.

        From SIDE_PASS_MIN_CHARS on, the pattern recognizers run in a side thread while the tagger runs (see
        `_answer_from_side_pass`): 2 KB 20.3 -> 16.3 ms, 20 KB 140 -> 131 ms in one process on the 2-core machine
        (docs/performance.md).
        """
        eng = self._engine
        artifacts: NlpArtifacts | None = None
        token: contextvars.Token[tuple[str, dict[str, list[RecognizerResult]]] | None] | None = None
        if len(text) >= SIDE_PASS_MIN_CHARS and self._side:
            side = eng.side_pool.get(1).submit(_side_pass, self._side, text, self._entities)
            try:
                artifacts = eng.nlp.process_text(text, "en")
            finally:
                precomputed = side.result()  # never leave the side pass running on a failed text
            token = _PRECOMPUTED.set((text, precomputed))
        try:
            raw = eng.analyzer.analyze(
                text=text,
                language="en",
                entities=self._entities,
                score_threshold=self._opts.score_threshold,
                ad_hoc_recognizers=self._deny or None,
                nlp_artifacts=artifacts,
            )
        finally:
            if token is not None:
                _PRECOMPUTED.reset(token)
        return self._filter(text, raw)

    def _filter(self, text: str, results: Iterable[RecognizerResult]) -> list[RecognizerResult]:
        kept: list[RecognizerResult] = []
        dobs: list[RecognizerResult] = []
        for r in results:
            if r.entity_type not in self._opts.entities and r.entity_type not in self._deny_entities:
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
        kept = _resolve_overlaps(kept)
        kept.sort(key=lambda r: (r.start, r.end, r.entity_type))
        return kept

    def _allowed(self, value: str) -> bool:
        allow = self._opts.allow_list
        if _possessive_stripped(value) in allow:
            return True
        words = [_possessive_stripped(w) for w in _WORD.findall(value)]
        return bool(words) and all(w in allow for w in words)


# How much a source's entity type is trusted when spans of different types overlap: the policy's deny list, then
# context-anchored patterns, then the tagger, then the name lists.
_SOFT_SOURCES = {"NameListRecognizer": 0, "PhiTaggerRecognizer": 1}
_PATTERN_RANK = 2


def _source_rank(source: str) -> int:
    """How much a recognizer is trusted when spans overlap: deny list 3, patterns 2, the tagger 1, name lists 0."""
    return 3 if source.startswith("DenyList") else _SOFT_SOURCES.get(source, _PATTERN_RANK)


def _rank(r: RecognizerResult) -> int:
    return _source_rank(str((r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")))


def _resolve_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop a span that overlaps a span from a more trusted source: "617-555-0143" is the phone pattern's
    PHONE_NUMBER, not also the tagger's MRN; "Mercy Hospital" is the tagger's LOCATION, not a name-list PERSON.
    Spans from equally trusted sources all stay (a redaction covers their union)."""
    if len(results) < 2:
        return results
    ranked = sorted(results, key=lambda r: (-_rank(r), r.start - r.end))
    kept: list[tuple[int, RecognizerResult]] = []
    for r in ranked:
        rank = _rank(r)
        if any(k_rank > rank and k.start < r.end and r.start < k.end for k_rank, k in kept):
            continue
        kept.append((rank, r))
    return [r for _, r in kept]


def _explain(r: RecognizerResult) -> str:
    meta = r.recognition_metadata or {}
    name = str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown"))
    pattern = getattr(r.analysis_explanation, "pattern_name", None) if r.analysis_explanation else None
    enhanced = "+context" if meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY) else ""
    return f"{name}:{pattern}{enhanced}" if pattern else f"{name}{enhanced}"


def build(options: Mapping[str, Any]) -> TextPhiDetector:
    """Registry factory (phiwall.detectors.REGISTRY["text_phi"])."""
    return TextPhiDetector(options)
