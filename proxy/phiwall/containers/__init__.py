"""Containers (PDF, ZIP/TAR, DOCX/XLSX, NIfTI, DICOMDIR…): a file part that holds other items expands into
child parts, each with a locator naming its place in the container, so every detector sees every item.

`expand(part)` returns the children of one part ([] for a plain file). Limits on depth, count and expanded
size raise LimitError with a clear reason. `repack(parent, children, edits)` is the way back: the parent's bytes
with edited children written into their places (ZIP and TAR members, a gzip stream, a text file's text, a NIfTI
header); children derived from their container (a PDF's text, a rendering) raise RewriteError("not_rewritable").
"""

from __future__ import annotations

from collections.abc import Sequence

from phiwall.errors import ExtractionError
from phiwall.locators import Edits
from phiwall.locators import RewriteError
from phiwall.locators import apply
from phiwall.locators import check_edit
from phiwall.locators import relative
from phiwall.model import Part

MAX_DEPTH = 4


def expand(part: Part, depth: int = 0) -> list[Part]:
    """Children of `part`. The plain-file default: none.

    Raises:
        ExtractionError: a container module (or a library it needs: pypdfium2, nibabel, python-docx, openpyxl)
            cannot be imported. Expansion is not optional: an archive nobody looked into must not pass as a
            plain file, so the policy's on_error decides (default block).
        LimitError: see `registry.expand`.
    """
    try:
        from phiwall.containers import registry

        return registry.expand(part, depth)
    except ImportError as e:
        # The module's name is PHI-free; what was in the part is not quoted.
        raise ExtractionError(
            f"container inspection is unavailable (module {e.name or 'unknown'} could not be imported); "
            "reinstall phiwall with its dependencies"
        ) from None


def repack(parent: Part, children: Sequence[Part], edits: Edits) -> bytes:
    """The parent's bytes with each edited child (Part.id -> new text or bytes) written back into its place.

    `children` are the parent's descendants as `expand` made them (grandchildren too: a DICOM in a ZIP in a ZIP).
    Unedited members keep their content; the archive itself is rebuilt only when a member changed.

    Raises:
        RewriteError: a child cannot be written back (`not_rewritable` for PDF content and other derived
            children), an id is not a descendant of `parent` (`unknown_part`), or a value has the wrong type.
    """
    data = parent.data or b""
    if not edits:
        return data
    by_id = {c.id: c for c in children}
    todo = []
    for pid, new in edits.items():
        child = by_id.get(pid)
        if child is None or not pid.startswith(parent.id + "."):
            raise RewriteError("unknown_part", f"part {pid} is not inside part {parent.id}")
        check_edit(child, new)
        todo.append((relative(child, parent), new))
    out = apply(data, todo)
    return out if isinstance(out, bytes) else out.encode("utf-8")
