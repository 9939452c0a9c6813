"""Text de-identification: the PHI spans a `deidentify` rule matched, replaced with presidio-anonymizer's operators.

Operators (`with: {text: {operator: ...}}`):

- `pseudonym` (default): a stand-in that keeps the meaning — `[PATIENT_1]`, `[DATE_2]`, `[MRN_1]` — the same for
  the same value everywhere in one conversation (every message, every request, every turn), so the model can
  still reason about "the patient" and the reply can be restored.
- `surrogate`: a realistic fake (a Faker name seeded by the value's keyed digest, a date shifted by one offset per
  conversation, in the format it was written) — for models that answer worse when text is full of brackets.
  Restored in the reply like a stand-in. A value Faker has no generator for gets a pseudonym instead.
- `replace` (a fixed template such as `<PERSON>`), `mask` (characters overwritten), `hash` (a keyed digest of the
  installation secret, never a plain hash: names are guessable), `redact` (removed). Not restored.

Consistency comes from `Pseudonyms`: it is given the conversation's known stand-ins, keyed by a keyed digest of the
normalised value (no PHI in the key), and hands out new numbers after the highest one in use. The new
(digest, stand-in, original) triples are what the vault stores; nothing here keeps state between requests.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from functools import cache
from typing import TYPE_CHECKING
from typing import Any

from phiwall import digest
from phiwall.deid.options import TextDeidOptions
from phiwall.model import Finding

if TYPE_CHECKING:
    from presidio_anonymizer import AnonymizerEngine

# Stand-in labels: what the person reading the model's answer should understand the placeholder to be.
LABELS = {
    "PERSON": "PATIENT",
    "DATE_TIME": "DATE",
    "DATE_OF_BIRTH": "DATE",
    "STREET_ADDRESS": "ADDRESS",
    "LOCATION": "LOCATION",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "US_SSN": "SSN",
    "MRN": "MRN",
    "ACCESSION_NUMBER": "ACCESSION",
    "HEALTH_PLAN_ID": "PLAN_ID",
    "ACCOUNT_NUMBER": "ACCOUNT",
    "AGE_OVER_89": "AGE",
    "ZIP_CODE": "ZIP",
    "IP_ADDRESS": "IP",
    "CREDIT_CARD": "CARD",
    "US_DRIVER_LICENSE": "LICENSE",
    "US_PASSPORT": "PASSPORT",
    "IBAN_CODE": "IBAN",
}
_STAND_IN = re.compile(r"\[([A-Z_]+)_(\d+)\]")
RESTORABLE = frozenset({"pseudonym", "surrogate"})
NO_RESTORE = "#norestore"  # marks a vault entry's entity: kept for consistency, never put back into a reply


def label(entity: str) -> str:
    return LABELS.get(entity, re.sub(r"[^A-Z_]", "_", entity.upper()))


def normalise(value: str) -> str:
    """The form two mentions of one value share: case and spacing do not make a different person."""
    return " ".join(value.split()).casefold()


def value_key(entity: str, value: str) -> str:
    """A keyed digest of (label, normalised value): the vault's key for a value, PHI-free, the same on every
    replica (same installation secret)."""
    return digest.value_digest("deid/value\0" + label(entity) + "\0" + normalise(value))


@dataclass
class Pseudonyms:
    """Stand-ins for one conversation: the known ones (digest → stand-in) and those this request adds."""

    known: dict[str, str] = field(default_factory=dict)
    scope: str = ""  # conversation scope id (PHI-free): seeds the date shift of surrogates
    new: list[tuple[str, str, str, str]] = field(default_factory=list)  # (digest, stand-in, original, entity)

    def __post_init__(self) -> None:
        self._next: Counter[str] = Counter()
        self._taken = set(self.known.values())
        self._memo: dict[tuple[str, str], str] = {}
        for s in self.known.values():
            m = _STAND_IN.fullmatch(s)
            if m:
                self._next[m.group(1)] = max(self._next[m.group(1)], int(m.group(2)))

    def stand_in(self, entity: str, value: str, operator: str = "pseudonym", *, restore: bool = True) -> str:
        memo = self._memo.get((entity, value))
        if memo is not None:
            return memo
        key = value_key(entity, value)
        self._memo[(entity, value)] = got = self._assign(key, entity, value, operator, restore)
        return got

    def _assign(self, key: str, entity: str, value: str, operator: str, restore: bool = True) -> str:
        got = self.known.get(key)
        if got is not None:
            return got
        new = None
        if operator == "surrogate":
            new = surrogate(entity, value, key, self.scope)
            if new is not None and (new in self._taken or new == value):
                new = None
        if new is None:
            lab = label(entity)
            self._next[lab] += 1
            new = f"[{lab}_{self._next[lab]}]"
        self.known[key] = new
        self._taken.add(new)
        self.new.append((key, new, value, entity if restore else entity + NO_RESTORE))
        return new


# -- surrogates ------------------------------------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y")


def surrogate(entity: str, value: str, key: str, scope: str) -> str | None:
    """A realistic fake for `value`, deterministic in its keyed digest; None when there is no generator."""
    if entity in ("DATE_TIME", "DATE_OF_BIRTH"):
        return _shift_date(value, scope)
    fake = _faker(int(key[:12], 16))
    if fake is None:
        return None
    if entity == "PERSON":
        parts = value.split()
        return str(fake.name()) if len(parts) > 1 else str(fake.last_name())
    if entity in ("STREET_ADDRESS",):
        return str(fake.street_address())
    if entity == "LOCATION":
        return str(fake.city())
    if entity == "PHONE_NUMBER":
        return str(fake.numerify("(###) ###-####"))
    if entity == "EMAIL_ADDRESS":
        return str(fake.email())
    if entity in ("MRN", "ACCOUNT_NUMBER", "HEALTH_PLAN_ID", "ACCESSION_NUMBER"):
        return "".join(str(fake.random_digit()) if c.isdigit() else c for c in value)
    if entity == "US_SSN":
        return str(fake.numerify("9##-##-####"))  # 9xx: never issued
    return None


def _faker(seed: int) -> Any:
    try:
        from faker import Faker
    except ImportError:  # surrogates then fall back to pseudonyms (still de-identified, still restored)
        return None
    fake = _faker_instance(Faker)
    fake.seed_instance(seed)
    return fake


@cache
def _faker_instance(factory: Any) -> Any:
    return factory("en_US")


def _shift_date(value: str, scope: str) -> str | None:
    """The date moved by one offset per conversation (1..365 days back), written in the format it came in, so
    intervals between dates survive."""
    text = value.strip()
    for fmt in _DATE_FORMATS:
        try:
            d = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        shift = 1 + int(digest.value_digest("deid/date-shift\0" + scope)[:8], 16) % 365
        out = (d - dt.timedelta(days=shift)).strftime(fmt)
        return out
    return None


# -- applying operators ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextEdit:
    """One part's new text and what changed (PHI-free)."""

    part_id: str
    text: str
    entity_counts: tuple[tuple[str, int], ...]
    inserted: tuple[str, ...]  # the replacement strings written in (for the verify scan and the restore map)


def _without_overlaps(
    findings: Sequence[tuple[Finding, TextDeidOptions]],
) -> list[tuple[Finding, TextDeidOptions]]:
    """One finding per stretch of text, chosen before any stand-in is numbered: the highest score wins (a value the
    conversation already had replaced scores 1), then the longest span. Otherwise a detector's partial span
    ("margaret" of "margaret okafor") would get a stand-in of its own, and the same person two numbers."""
    kept: list[tuple[Finding, TextDeidOptions]] = []
    starts: list[int] = []  # the kept spans, disjoint, sorted by start (bisect: linear in the findings, not square)
    ends: list[int] = []
    ranked = sorted(findings, key=lambda fo: (-fo[0].score, -((fo[0].end or 0) - (fo[0].start or 0)), fo[0].start or 0))
    for f, opts in ranked:
        if f.start is None or f.end is None:
            kept.append((f, opts))  # judged (and refused) below
            continue
        i = bisect.bisect_right(starts, f.start)
        if (i > 0 and ends[i - 1] > f.start) or (i < len(starts) and starts[i] < f.end):
            continue
        starts.insert(i, f.start)
        ends.insert(i, f.end)
        kept.append((f, opts))
    return kept


def deidentify_text(
    text: str,
    findings: Sequence[tuple[Finding, TextDeidOptions]],
    pseudonyms: Pseudonyms,
    *,
    part_id: str = "p0",
) -> TextEdit:
    """Replace each finding's span in `text` with what its options say (presidio-anonymizer does the splicing and
    resolves overlapping spans).

    Raises:
        ValueError: a finding has no character span (the caller blocks: it cannot be replaced).
    """
    from presidio_anonymizer.entities import OperatorConfig
    from presidio_anonymizer.entities import RecognizerResult

    findings = _without_overlaps(findings)
    results = []
    operators: dict[str, OperatorConfig] = {}
    inserted: list[str] = []
    counts: Counter[str] = Counter()
    # presidio picks the operator by entity type, so each (entity, options) pair gets a type name of its own.
    opts_ids: dict[int, str] = {}
    for f, opts in findings:
        if f.start is None or f.end is None or not 0 <= f.start < f.end <= len(text):
            raise ValueError(f"a {f.entity} finding has no span in the text")
        oid = opts_ids.get(id(opts))
        if oid is None:
            oid = opts_ids[id(opts)] = _opts_id(opts)
        kind = f"{f.entity}#{oid}"
        results.append(RecognizerResult(kind, f.start, f.end, f.score))
        counts[f.entity] += 1
        if kind not in operators:
            operators[kind] = _operator(f.entity, opts, pseudonyms, inserted)
    if not results:
        return TextEdit(part_id, text, (), ())
    # Number stand-ins in reading order (presidio applies operators from the end of the text backwards).
    for f, opts in sorted(findings, key=lambda fo: fo[0].start or 0):
        if opts.operator in RESTORABLE:
            pseudonyms.stand_in(f.entity, text[f.start : f.end], opts.operator, restore=opts.restore)
    out = _engine().anonymize(text, results, operators)
    return TextEdit(part_id, out.text, tuple(sorted(counts.items())), tuple(dict.fromkeys(inserted)))


def _operator(entity: str, opts: TextDeidOptions, pseudonyms: Pseudonyms, inserted: list[str]) -> Any:
    from presidio_anonymizer.entities import OperatorConfig

    op = opts.operator

    def record(s: str) -> str:
        inserted.append(s)
        return s

    if op in RESTORABLE:
        keep = opts.restore
        return OperatorConfig("custom", {"lambda": lambda v: record(pseudonyms.stand_in(entity, v, op, restore=keep))})
    if op == "replace":
        return OperatorConfig(
            "replace", {"new_value": record(opts.template.format(entity=entity, label=label(entity)))}
        )
    if op == "hash":
        return OperatorConfig("custom", {"lambda": lambda v: record(_keyed_hash(entity, v))})
    if op == "mask":
        return OperatorConfig("custom", {"lambda": lambda v: record(_mask(v, opts))})
    return OperatorConfig("redact", {})


def _mask(value: str, opts: TextDeidOptions) -> str:
    n = len(value) if opts.mask_chars is None else min(opts.mask_chars, len(value))
    if opts.mask_from_end:
        return value[: len(value) - n] + opts.mask_char * n
    return opts.mask_char * n + value[n:]


def _keyed_hash(entity: str, value: str) -> str:
    """A keyed digest (installation secret): the same value gives the same text, and nobody without the secret
    can test guesses against it."""
    return digest.value_digest("deid/hash\0" + label(entity) + "\0" + normalise(value))


def _opts_id(opts: TextDeidOptions) -> str:
    return hashlib.sha1(repr(opts).encode(), usedforsecurity=False).hexdigest()[:8]


@cache
def _engine() -> AnonymizerEngine:
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


def wants(opts: TextDeidOptions, f: Finding) -> bool:
    """Whether a rule's text options cover a finding (its `entities` list and `min_score`)."""
    if opts.entities is not None and "*" not in opts.entities and f.entity not in opts.entities:
        return False
    return opts.min_score is None or f.score >= opts.min_score


def spans_of(text: str, needles: Iterable[str]) -> list[tuple[int, int]]:
    """Every place one of `needles` occurs in `text` (the stand-ins a verify scan must not count as PHI)."""
    out = []
    for n in needles:
        if not n:
            continue
        for m in re.finditer(re.escape(n), text):
            out.append((m.start(), m.end()))
    return out
