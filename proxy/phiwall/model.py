"""The plain data that flows through phiwall: parts in, findings out, one decision per request.

Nothing here knows about mitmproxy, HTTP or YAML, so extractors, detectors and the policy engine can be tested
(and run in worker processes) without a proxy. Every object is picklable: whole envelopes cross the process
boundary to the detector pool.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

if TYPE_CHECKING:
    from phiwall.locators import Step


class PartKind(enum.StrEnum):
    TEXT = "text"
    FILE = "file"


ContainerKind = Literal["json", "form", "multipart", "body", "query", "websocket", "header", "archive", "grpc"]
Encoding = Literal["utf8", "base64", "base64url", "data-url", "raw", "text"]


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a part lives in the request, so a de-identified version can be written back to the same place.

    Two views of one place. `container`, `path` and `encoding` are the flat description policies and audit
    events use (`describe()`, `audit_where()`): `path` is a JSON path for JSON bodies (("messages", 0, "content",
    1, "image_url", "url")), the field name and index for multipart and forms, or the member name inside an
    archive; `encoding` says how the bytes were wrapped there. `steps` is the reversible chain, outermost first,
    from the decoded request body to the value (`phiwall.locators`: `Form("f.req", 3) → Json(1) → Json(0, 0)`);
    `phiwall.locators.rewrite_parts` walks it back to write a new value into exactly this place. `steps` does
    not take part in equality: two locators that name the same place are equal however they were built.
    """

    container: ContainerKind
    path: tuple[str | int, ...] = ()
    encoding: Encoding = "raw"
    steps: tuple[Step, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        """The full location, as policy `where:` globs match it ("archive:CD/DICOM/IM0001").

        Not for anything written to disk: archive member names, sheet titles and keys of a free-form JSON
        document are the user's own words and can name a patient. Audit events use `audit_where()`.
        """
        inner = ".".join(str(p) for p in self.path)
        return f"{self.container}:{inner}" if inner else self.container

    def audit_where(self) -> str:
        """A PHI-free form of `describe()` for audit events: schema-like keys and indexes are kept, every other
        name (archive members, sheet titles, unusual JSON keys) becomes a short keyed digest."""
        inner = safe_path(self.path, self.container)
        return f"{self.container}:{inner}" if inner else self.container


def safe_path(path: tuple[str | int, ...], container: str = "json") -> str:
    """A dotted path with every non-schema name replaced by a keyed digest: for error messages and audit
    events, which must not quote a JSON key, member name or field name the user chose."""
    return ".".join(_safe_component(container, p) for p in path)


# Structural names the container expanders put into archive paths (containers/*.py); everything else in an
# archive path is a member name or a sheet title, chosen by the user.
_ARCHIVE_WORDS = frozenset(
    {"page", "text", "scan", "image", "attachment", "info", "records", "header", "slice", "middle", "sheet", "names"}
)
# API schema keys: snake_case or camelCase starting with a lower-case letter ("image_url", "inlineData", "f.req").
# A capitalised word, a space, a digit-first string or anything long is treated as the user's own text.
_SCHEMA_KEY = re.compile(r"[a-z][A-Za-z0-9_.\-]{0,47}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def _safe_component(container: str, p: str | int) -> str:
    if isinstance(p, int):
        return str(p)
    if container == "archive":
        if p in _ARCHIVE_WORDS:
            return p
    elif _SCHEMA_KEY.fullmatch(p):
        return p
    from phiwall.digest import value_digest  # late: keeps this module free of process state at import

    ext = _EXTENSION.search(p) if container == "archive" else None
    return "~" + value_digest(p)[:8] + (ext.group(0).lower() if ext else "")


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of user content: a text or a file, as found in a request (or in a file on disk)."""

    id: str
    kind: PartKind
    locator: Locator
    text: str | None = None
    data: bytes | None = None
    media_type: str | None = None  # sniffed from magic bytes, never from Content-Type or filename
    declared_type: str | None = None  # what the client claimed; kept for audit only
    filename: str | None = None
    parent_id: str | None = None  # set for items found inside a container (archive member, PDF page image)
    # "filename" for a text part that is a file's name (a multipart Content-Disposition filename, an upload
    # registration's `filename`/`file_name`/`displayName`, an archive member's name): file names name patients
    # too ("Okafor_Margaret_CT.dcm"), so they are inspected as text and renamed when de-identified. Such parts get
    # ids after every other part of their envelope (or container), so the ids of content parts do not shift.
    role: Literal["content", "filename"] = "content"

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        return len(self.text.encode("utf-8")) if self.text is not None else 0

    @property
    def not_rewritable(self) -> str | None:
        """Why a new value for this part cannot be written back (PHI-free, says what to do), None when it can:
        lossy text, content derived from its container (a PDF's text layer, a rendering), no recorded place.
        A de-identify plan that needs this part blocks with this reason instead of trying."""
        from phiwall.locators import write_blocker  # late: locators imports model types for annotations only

        return write_blocker(self)


class EndpointKind(enum.StrEnum):
    CHAT = "chat"
    UPLOAD = "upload"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What one request carries, after the service adapter has taken it apart."""

    service: str  # "openai_api", "chatgpt_web", ... or "file" for `phiwall scan`
    endpoint: str  # a stable, PHI-free endpoint name: "chat.completions", "files.create", "generic", ...
    kind: EndpointKind
    parts: tuple[Part, ...]
    correlation_id: str | None = None  # e.g. an upload id linking several requests
    notes: tuple[str, ...] = ()  # PHI-free remarks from the adapter (e.g. "unparsed field x"), audited
    adapter_findings: tuple[Finding, ...] = ()  # evidence the adapter itself saw (REMOTE_REFERENCE, blocked file id)


@dataclass(frozen=True, slots=True)
class Finding:
    """Evidence that a part holds PHI or a medical object. Never carries the detected value itself."""

    detector: str  # Detector.name: stable id used in YAML and audit
    entity: str  # "PERSON", "MRN", "DICOM_FILE", "DICOM_TAG:PatientName", "MEDICAL_IMAGE", ...
    part_id: str
    score: float
    start: int | None = None  # character span in the part's text
    end: int | None = None
    bbox: tuple[int, int, int, int] | None = None  # pixel region x, y, w, h
    tag: str | None = None  # DICOM keyword or similar PHI-free qualifier
    modality: str | None = None  # DICOM Modality or medical-image modality guess
    digest: str | None = None  # keyed HMAC of the value, for correlation without disclosure
    explanation: str = ""  # which pattern or rule fired; never the value
    # Non-identifying DICOM attributes of the whole file (Modality, BurnedInAnnotation, SOPClassUID,
    # BodyPartExamined, ImageType) as (keyword, value) pairs, for policy `dicom:` conditions. Never PHI.
    attrs: tuple[tuple[str, str], ...] = ()


class Verdict(enum.IntEnum):
    """Ordered so that max() is the strictest."""

    ALLOW = 0
    WARN = 1
    DEIDENTIFY = 2
    BLOCK = 3

    @classmethod
    def parse(cls, value: str) -> Verdict:
        return cls[value.upper()]

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One rule that fired, with the PHI-free message a person will read."""

    rule_id: str
    verdict: Verdict
    message: str


@dataclass(frozen=True, slots=True)
class DeidStep:
    """One rule's share of a de-identification plan: what it matched and how its `with:` says to change it.

    `options` is a `phiwall.deid.options.DeidOptionSet` (typed loosely here so this module stays free of engine
    imports); it is a frozen dataclass and crosses the process boundary with the decision.
    """

    rule_id: str
    findings: tuple[Finding, ...]
    options: Any


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]  # human readable, PHI-free
    findings: tuple[Finding, ...] = ()
    error: str | None = None  # PHI-free description when the verdict came from on_error
    error_kind: str | None = None  # "limit", "unparseable", "timeout", "detector": decides the HTTP status
    hits: tuple[RuleHit, ...] = field(default=())
    # Per rule that chose `deidentify` (after exceptions), the findings it matched and its options. Acted on only
    # when `verdict` is DEIDENTIFY: a stricter rule's block makes the plan moot.
    plan: tuple[DeidStep, ...] = ()
    # Block rules a justification overrode (phiwall.justify), and whether this block could have been justified.
    overridden: tuple[str, ...] = ()
    justifiable: bool = False

    def entity_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.entity for f in self.findings).items()))

    @property
    def message(self) -> str:
        """What the person is told: every rule's reason, in one text (see `combine_reasons`)."""
        return combine_reasons(self.reasons)


def combine_reasons(reasons: Iterable[str]) -> str:
    """Join rule messages so that an opening they share is said once.

    Each rule's message is a whole sentence ("phiwall blocked this message to the OpenAI API: it contains 1 person
    name (rule phi-person-name). Leave out ..."), because any rule may fire alone. When several fire, repeating
    "phiwall blocked this message to the OpenAI API:" before each reads like a stutter, so a shared text up to the
    first ": " is kept once and the rest follow with "Also: ".
    """
    items = [r for r in dict.fromkeys(reasons) if r]
    if len(items) < 2:
        return items[0] if items else ""
    head, sep, _ = items[0].partition(": ")
    if not sep or not all(r.startswith(head + sep) for r in items):
        return " ".join(items)
    rest = [r[len(head) + len(sep) :] for r in items]
    return head + sep + rest[0] + "".join(f" Also: {r}" for r in rest[1:])


def entity_counts(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, int]:
    return dict(sorted(Counter(f.entity for f in findings).items()))
