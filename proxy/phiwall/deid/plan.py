"""Turning a decision's de-identification plan into edits: per part, its new text or its new bytes.

Runs in the worker, next to the detectors: the values it replaces never travel to the event loop, except the
originals of restorable stand-ins, which the reply needs (`DeidReport.vault`). Anything the plan asks for that
cannot be done raises `CannotDeidentify` with a reason the person can act on; the pipeline then blocks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from phiwall.deid.options import CannotDeidentify
from phiwall.deid.options import DeidOptionSet
from phiwall.deid.options import TextDeidOptions
from phiwall.deid.text import RESTORABLE
from phiwall.deid.text import Pseudonyms
from phiwall.deid.text import deidentify_text
from phiwall.deid.text import wants
from phiwall.model import Decision
from phiwall.model import Finding
from phiwall.model import Part
from phiwall.model import PartKind

# Evidence that says what a part *is*, not who it is about: still true after de-identification, so the verify scan
# does not count it (a de-identified CT is still a DICOM file and still a medical image).
STRUCTURAL = frozenset({"DICOM_FILE", "MEDICAL_IMAGE", "DICOM_BURNED_IN_ANNOTATION"})


@dataclass(frozen=True, slots=True)
class DeidContext:
    """What the worker needs from the vault to keep stand-ins consistent: the conversation's scope id and the
    stand-ins already given (value key → stand-in). PHI-free: keys are keyed digests."""

    scope: str
    known: tuple[tuple[str, str], ...] = ()
    # (entity, original) of every value the conversation already replaced: a later message that repeats one (the
    # person pasting the restored reply back, a name the detector misses in a short sentence) gets the same
    # stand-in although no detector fires on it there.
    values: tuple[tuple[str, str], ...] = ()
    # The body length the service registered before the bytes (ChatGPT's file_size, a resumable upload's declared
    # length): the rewritten body must be exactly this long, or the request cannot be de-identified.
    keep_length: int | None = None


@dataclass(frozen=True, slots=True)
class PlannedEdits:
    edits: dict[str, str | bytes]
    entity_counts: tuple[tuple[str, int], ...]
    parts: tuple[str, ...]  # ids of rewritten parts
    operators: tuple[str, ...]
    inserted: tuple[str, ...]  # every replacement string written in
    vault: tuple[tuple[str, str, str, str], ...]  # new (value key, stand-in, original, entity), restorable only


def plan_edits(
    parts: Sequence[Part], decision: Decision, context: DeidContext | None, keys: object | None = None
) -> PlannedEdits:
    """The edits that carry out `decision.plan` on `parts` (the expanded parts: container children included).

    Raises:
        CannotDeidentify: a finding has no span, or a file has no de-identification engine or cannot be written.
    """
    by_id = {p.id: p for p in parts}
    pseudonyms = Pseudonyms(dict(context.known) if context else {}, scope=context.scope if context else "")
    text_work: dict[str, list[tuple[Finding, TextDeidOptions]]] = defaultdict(list)
    file_work: dict[str, DeidOptionSet] = {}
    claimed: set[tuple[str, str, int | None, int | None]] = set()
    operators: list[str] = []
    for step in decision.plan:
        opts: DeidOptionSet = step.options
        for f in step.findings:
            part = by_id.get(f.part_id)
            if part is None:
                raise CannotDeidentify(
                    "unparseable", f"phiwall could not find where a {f.entity} finding is in the request"
                )
            if part.kind == PartKind.TEXT:
                if f.start is None or f.end is None:
                    raise CannotDeidentify("unparseable", f"a {f.entity} finding in the text has no position")
                sig = (f.part_id, f.entity, f.start, f.end)
                if sig in claimed or not wants(opts.text, f):
                    continue
                claimed.add(sig)
                text_work[f.part_id].append((f, opts.text))
                operators.append(opts.text.operator)
            else:
                file_work.setdefault(part.id, opts)
    _add_echoes(parts, text_work, context)
    edits: dict[str, str | bytes] = {}
    counts: Counter[str] = Counter()
    inserted: list[str] = []
    order = {p.id: i for i, p in enumerate(parts)}
    for pid, work in sorted(text_work.items(), key=lambda kv: order.get(kv[0], 0)):  # stand-ins in reading order
        part = by_id[pid]
        assert part.text is not None
        e = deidentify_text(part.text, work, pseudonyms, part_id=pid)
        edits[pid] = e.text
        counts.update(dict(e.entity_counts))
        inserted.extend(e.inserted)
    keep = context.keep_length if context else None
    if keep is not None and (edits or len(file_work) != 1):
        raise CannotDeidentify(
            "size_registered",
            "the service registered this upload's size before its bytes, and only a single file can be rewritten "
            "to the same length",
        )
    for pid, opts in file_work.items():
        part = by_id[pid]
        if any(by_id[t].parent_id == pid for t in text_work):
            raise CannotDeidentify(
                "nested", "a file and text inside it were both to be de-identified; send them separately"
            )
        data, kind = _deidentify_file(part, opts, keys, keep)
        edits[pid] = data
        counts[kind] += 1
        operators.append(kind)
    restorable = tuple(pseudonyms.new)  # only pseudonym and surrogate operators ask Pseudonyms for stand-ins
    return PlannedEdits(
        edits=edits,
        entity_counts=tuple(sorted(counts.items())),
        parts=tuple(edits),
        operators=tuple(dict.fromkeys(operators)),
        inserted=tuple(dict.fromkeys(inserted)),
        vault=restorable,
    )


def _add_echoes(
    parts: Sequence[Part],
    text_work: dict[str, list[tuple[Finding, TextDeidOptions]]],
    context: DeidContext | None,
) -> None:
    """Every other place a replaced value occurs (in any text part of this request, or known from earlier turns)
    is replaced too, with the same options: a detector that finds "Margaret Okafor" in one message and misses
    her in "Tell Margaret Okafor." must not leave the second one in clear text."""
    values: dict[str, tuple[str, TextDeidOptions]] = {}
    for pid, work in text_work.items():
        text = next(p.text for p in parts if p.id == pid) or ""
        for f, opts in work:
            if opts.operator in RESTORABLE:
                values.setdefault(text[f.start : f.end].casefold(), (f.entity, opts))
    default = next((o for w in text_work.values() for _, o in w if o.operator in RESTORABLE), None)
    for entity, original in context.values if context else ():
        if default is not None or not text_work:
            values.setdefault(original.casefold(), (entity, default or TextDeidOptions()))
    values = {v: eo for v, eo in values.items() if len(v.strip()) >= 3}
    if not values:
        return
    rx = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) + r")(?!\w)",
        re.IGNORECASE,
    )
    for p in parts:
        if p.kind != PartKind.TEXT or not p.text:
            continue
        work = list(text_work.get(p.id, []))
        added = False
        for m in rx.finditer(p.text):
            lo, hi = m.start(), m.end()
            overlapping = [fo for fo in work if (fo[0].start or 0) < hi and lo < (fo[0].end or 0)]
            # A finding that covers only part of a known value ("margaret" of "margaret okafor") gives way to the
            # whole value; one that reaches beyond it keeps its place.
            if any((f.start or 0) < lo or (f.end or 0) > hi for f, _ in overlapping):
                continue
            if overlapping and all((f.start, f.end) == (lo, hi) for f, _ in overlapping):
                continue
            work = [fo for fo in work if fo not in overlapping]
            entity, opts = values[m.group(0).casefold()]
            work.append((Finding("deid-echo", entity, p.id, 1.0, lo, hi), opts))
            added = True
        if added:
            text_work[p.id] = work


def find_values(parts: Sequence[Part], values: Sequence[tuple[str, str]]) -> list[Finding]:
    """Findings (detector "vault", score 1) for every whole-word, case-insensitive occurrence of a known original in
    the text parts."""
    by_value = {o.casefold(): e for e, o in values if len(o.strip()) >= 3}
    if not by_value:
        return []
    rx = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(v) for v in sorted(by_value, key=len, reverse=True)) + r")(?!\w)",
        re.IGNORECASE,
    )
    out = []
    for p in parts:
        if p.kind == PartKind.TEXT and p.text:
            for m in rx.finditer(p.text):
                out.append(Finding("vault", by_value[m.group(0).casefold()], p.id, 1.0, m.start(), m.end()))
    return out


def _deidentify_file(
    part: Part, opts: DeidOptionSet, keys: object | None, keep_length: int | None = None
) -> tuple[bytes, str]:
    """A file part's de-identified bytes, by the DICOM / raster engines (phiwall.deid.files)."""
    try:
        from phiwall.deid.files import deidentify_bytes  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise CannotDeidentify(
            "unsupported_format",
            f"phiwall cannot de-identify a {part.media_type or 'file'} in this version; remove the attachment",
        ) from None
    if keys is None:
        from phiwall import digest
        from phiwall import home
        from phiwall.deid.uids import derive_keys

        keys = derive_keys(digest.load_or_create_secret(home.default_secret_file()))
    if keep_length is not None and len(part.data or b"") != keep_length:
        raise CannotDeidentify("size_registered", "the file is not the whole body whose size was registered")
    res = deidentify_bytes(part.data or b"", part.filename or "file", opts, keys, keep_length=keep_length)  # type: ignore[arg-type]
    return res.data, f"FILE:{res.media_type}"
