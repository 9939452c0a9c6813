"""Which container format a file part is, and how to take it apart.

Each format module exposes `children(part, ctx) -> list[Part]`. This registry picks the module from the sniffed
media type (and, for ZIP, from the members: a DOCX and an XLSX are ZIP files), enforces the depth limit and
builds child parts with locators that name their place ("archive:scans/CT1.dcm", "archive:report.pdf.page.3.text").

Limits (each a LimitError with a clear, PHI-free reason, so the policy's on_error answers the user):
depth 4, 1000 members per archive, 500 MB expanded per archive, compression ratio 200:1 for members over 1 MB
(a zip bomb), 300 PDF pages, 20 scanned pages OCRed per PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from phiwall.errors import LimitError
from phiwall.locators import NotRewritable
from phiwall.locators import Step
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.sniff import DICOM
from phiwall.sniff import OCTET
from phiwall.sniff import sniff

MAX_DEPTH = 4
MAX_MEMBERS = 1000
MAX_EXPANDED_BYTES = 500 * 1000 * 1000
MAX_RATIO = 200
RATIO_MIN_BYTES = 1_000_000
MAX_PDF_PAGES = 300
MAX_OCR_PAGES = 20
MAX_TEXT_CHARS = 5_000_000


RENAME_MEMBERS = (
    "phiwall cannot rename the files inside an archive; rename the files or folders that carry the patient's name "
    "and send the archive again"
)
# The write-back reason for a child whose expander did not say how to write it back.
NO_WRITER = "phiwall cannot write changes back into this kind of file; remove the identifying content and send it again"


@dataclass
class Context:
    """Where the container sits and what it may still expand to.

    Every child gets a locator chain: the parent's chain, then `steps` (how to reach the child inside the
    container's bytes: `ZipMember`, `TarMember`, `Gunzip`, `TextFile`), or `NotRewritable(reason)` for children
    derived from the container (a PDF's text layer, a rendering, text joined from a Word document).
    """

    part: Part
    depth: int
    prefix: tuple[str | int, ...]
    made: list[Part] = field(default_factory=list)

    def path(self, *inner: str | int) -> tuple[str | int, ...]:
        return (*self.prefix, *inner)

    def chain(self, steps: tuple[Step, ...] | None) -> tuple[Step, ...]:
        return (*self.part.locator.steps, *(steps if steps is not None else (NotRewritable(NO_WRITER),)))

    def file(
        self, data: bytes, *inner: str | int, filename: str | None = None, steps: tuple[Step, ...] | None = None
    ) -> Part:
        """A child file part (its media type sniffed from its bytes, never from its name)."""
        p = Part(
            f"{self.part.id}.{len(self.made)}",
            PartKind.FILE,
            Locator("archive", self.path(*inner), "raw", self.chain(steps)),
            data=data,
            media_type=sniff(data),
            filename=filename,
            parent_id=self.part.id,
        )
        self.made.append(p)
        return p

    def names(self, paths: list[str], steps: tuple[Step, ...] | None = None) -> Part | None:
        """The archive's member names as one text part (role "filename"), made after every member so no member's
        id shifts: each distinct folder and file name once, as words (`NameWords`: "Okafor Margaret"), a line
        each (`name_lines`). `steps` renames them (ZIP: `ZipNames`); without, a name to change makes
        de-identification block with what to do."""
        components = distinct_names(paths)
        text = name_lines(components)
        if not text.strip():
            return None
        p = Part(
            f"{self.part.id}.{len(self.made)}",
            PartKind.TEXT,
            Locator("archive", self.path("names"), "text", self.chain(steps or (NotRewritable(RENAME_MEMBERS),))),
            text=text,
            parent_id=self.part.id,
            role="filename",
        )
        self.made.append(p)
        return p

    def text(self, text: str, *inner: str | int, steps: tuple[Step, ...] | None = None) -> Part | None:
        """A child text part; empty text gives none. Text cut at MAX_TEXT_CHARS cannot be written back."""
        if not text or not text.strip():
            return None
        if len(text) > MAX_TEXT_CHARS:
            steps = (NotRewritable("this text is too long for phiwall to rewrite; send it in smaller files"),)
        p = Part(
            f"{self.part.id}.{len(self.made)}",
            PartKind.TEXT,
            Locator("archive", self.path(*inner), "text", self.chain(steps)),
            text=text[:MAX_TEXT_CHARS],
            parent_id=self.part.id,
        )
        self.made.append(p)
        return p


def distinct_names(paths: list[str]) -> tuple[str, ...]:
    """Every folder and file name in member paths, once each, in order of appearance."""
    seen: dict[str, None] = {}
    for path in paths:
        for component in path.split("/"):
            if component:
                seen.setdefault(component)
    return tuple(seen)


def name_lines(components: tuple[str, ...]) -> str:
    """The names as the detectors read them: one per line, each as words."""
    from phiwall.locators import NameWords
    from phiwall.locators import read

    return "\n".join(str(read(c, NameWords.of(c))) for c in components)


Expander = Callable[[Part, Context], list[Part]]


def _prefix(part: Part) -> tuple[str | int, ...]:
    """A nested container's children keep the parent's archive path in front of theirs."""
    if part.locator.container == "archive":
        return part.locator.path
    return ()


def _expander(part: Part) -> Expander | None:
    mt = part.media_type
    data = part.data or b""
    if mt == "application/pdf":
        from phiwall.containers import pdf

        return pdf.children
    if mt == "application/zip":
        from phiwall.containers import archive
        from phiwall.containers import office

        kind = office.office_kind(data)
        if kind == "docx":
            return office.docx_children
        if kind == "xlsx":
            return office.xlsx_children
        return archive.zip_children
    if mt in ("application/x-tar", "application/gzip"):
        from phiwall.containers import archive

        return archive.tar_or_gzip_children
    if mt == "application/x-nifti":
        from phiwall.containers import nifti

        return nifti.children
    if mt == DICOM:
        from phiwall.containers import dicomdir

        return dicomdir.children if dicomdir.is_dicomdir(data) else None
    if mt in (None, OCTET):
        from phiwall.containers import textfile

        return textfile.children if textfile.looks_like_text(data) else None
    return None


def expand(part: Part, depth: int = 0) -> list[Part]:
    """Children of `part` ([] when it is not a container).

    Raises:
        LimitError: nesting deeper than MAX_DEPTH, or a format limit (members, expanded size, ratio, pages).
        ExtractionError: the container is malformed in a way that hides its content (e.g. an encrypted PDF).
    """
    if part.kind != PartKind.FILE or part.data is None:
        return []
    fn = _expander(part)
    if fn is None:
        return []
    if depth >= MAX_DEPTH:
        raise LimitError(f"containers nested more than {MAX_DEPTH} levels deep (archive in archive...)")
    ctx = Context(part, depth, _prefix(part))
    return fn(part, ctx)
