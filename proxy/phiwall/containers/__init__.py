"""Containers (PDF, ZIP/TAR, DOCX/XLSX, NIfTI, DICOMDIR…): a file part that holds other items expands into
child parts, each with a locator naming its place in the container, so every detector sees every item.

`expand(part)` returns the children of one part ([] for a plain file). Limits on depth, count and expanded
size raise LimitError with a clear reason.
"""

from __future__ import annotations

from phiwall.model import Part

MAX_DEPTH = 4


def expand(part: Part, depth: int = 0) -> list[Part]:
    """Children of `part`. The plain-file default: none."""
    try:
        from phiwall.containers import registry
    except ImportError:
        return []
    return registry.expand(part, depth)
