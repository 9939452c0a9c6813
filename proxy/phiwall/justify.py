"""Justify and continue: a person resends a blocked request with a reason, and rules that allow it let it through.

A policy rule with `override: justify` (action block only) may be overridden by a justification: the newest message
of the request starting with a line `#phiwall-justify: <reason>`, or, for API clients, the request header
`X-Phiwall-Justify: <reason>`. phiwall then forwards the request without the marker line (and never forwards the
header), still de-identifies or warns where other rules say so, still blocks where a rule does not allow override,
and audits the justification with the rules it overrode.

The reason is audited as written only when it is short and PHI-free: it is cut to `MAX_REASON` characters and
scanned by the text detectors; a reason that itself holds PHI is audited as a keyed digest, its length and the
entity types found, never as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from phiwall import digest
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Finding
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.model import Verdict
from phiwall.request import RequestData

MARKER = "#phiwall-justify:"
HEADER = "x-phiwall-justify"
MAX_REASON = 300
MIN_REASON = 3
_MARKER_LINE = re.compile(r"\A\s*#phiwall-justify:[ \t]*(?P<reason>[^\r\n]*)(?:\r?\n|\Z)", re.IGNORECASE)
_SYSTEMISH = re.compile(r"system|instruction|developer", re.IGNORECASE)

HINT = (
    "If this is a false positive, send it again with a first line '#phiwall-justify: <why it is safe>' "
    "(API clients: the header X-Phiwall-Justify); phiwall records the reason."
)


@dataclass(frozen=True, slots=True)
class Justification:
    """A justification found in a request: its reason, where it came from, and the parts that carry a marker."""

    reason: str
    source: str  # "message" or "header"
    marked: tuple[str, ...] = ()  # ids of TEXT parts whose first line is a marker (stripped before forwarding)


def find(req: RequestData, envelope: Envelope) -> Justification | None:
    """The request's justification, or None. A marker counts only in the newest message (the last top-level text
    part that is not a system prompt) of a chat request; markers elsewhere are stripped but justify nothing, so
    an old justified message resent in the history does not justify a new one."""
    marked = tuple(p.id for p in envelope.parts if _is_marked(p)) if envelope.kind == EndpointKind.CHAT else ()
    header = (req.header(HEADER) or "").strip()
    if len(header) >= MIN_REASON:
        return Justification(header, "header", marked)
    newest = _newest_message(envelope.parts) if marked else None
    if newest is not None and newest.id in marked:
        m = _MARKER_LINE.match(newest.text or "")
        reason = m["reason"].strip() if m else ""
        if len(reason) >= MIN_REASON:
            return Justification(reason, "message", marked)
    return Justification("", "message", marked) if marked else None


def strip_edits(parts: Sequence[Part], marked: Sequence[str]) -> dict[str, str | bytes]:
    """Edits that remove the marker line from every marked part."""
    out: dict[str, str | bytes] = {}
    for p in parts:
        if p.id in marked and p.text is not None:
            out[p.id] = _MARKER_LINE.sub("", p.text, count=1)
    return out


def audit_record(
    j: Justification, overridden: Sequence[str], detect: Callable[[str], Sequence[Finding]]
) -> dict[str, Any]:
    """The PHI-free audit of a justification: the reason as written when short and PHI-free, else its digest."""
    reason = j.reason[:MAX_REASON]
    found = sorted({f.entity for f in detect(reason)}) if reason else []
    rec: dict[str, Any] = {"source": j.source, "overridden": list(overridden), "length": len(j.reason)}
    if found:
        rec["reason_digest"] = digest.value_digest(j.reason)
        rec["reason_entities"] = found
    else:
        rec["reason"] = reason
        if len(j.reason) > MAX_REASON:
            rec["truncated"] = True
    return rec


def reason_part(reason: str) -> Part:
    """A synthetic text part holding the reason, for the text detectors."""
    from phiwall.model import Locator

    return Part("justification", PartKind.TEXT, Locator("header", ("justification",), "text"), text=reason)


def is_overridden(verdict: Verdict, override: str, justified: bool) -> bool:
    return justified and verdict == Verdict.BLOCK and override == "justify"


def _is_marked(p: Part) -> bool:
    top = p.kind == PartKind.TEXT and p.parent_id is None and p.locator.container != "header"
    return top and bool(p.text) and bool(_MARKER_LINE.match(p.text or ""))


def _newest_message(parts: Sequence[Part]) -> Part | None:
    texts = [
        p
        for p in parts
        if p.kind == PartKind.TEXT
        and p.parent_id is None
        and p.locator.container != "header"
        and not _SYSTEMISH.search(p.locator.audit_where())
    ]
    return texts[-1] if texts else None


__all__ = ["HEADER", "HINT", "MARKER", "Justification", "audit_record", "find", "strip_edits"]
