"""Plain text and CSV uploads: a file part whose bytes are text becomes a text part, so the text PHI detector
reads it ("patients.csv" is the commonest way a list of names reaches a chatbot as a file).

Magic bytes cannot say "text", so this is a content test: the first 8 KB decode as UTF-8 (or UTF-16 with a BOM)
and hold almost no control characters.
"""

from __future__ import annotations

from phiwall.containers.registry import MAX_TEXT_CHARS
from phiwall.containers.registry import Context
from phiwall.model import Part

_SAMPLE = 8192


def _decode(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # a multi-byte character cut by the sample boundary
            return data[: exc.start].decode("utf-8-sig", errors="ignore")
        return None


def looks_like_text(data: bytes) -> bool:
    """Whether `data` is text (UTF-8/UTF-16, < 1 % control characters in the first 8 KB)."""
    if not data:
        return False
    sample = _decode(data[:_SAMPLE])
    if sample is None or not sample:
        return False
    bad = sum(1 for c in sample if ord(c) < 32 and c not in "\t\r\n\f")
    return bad <= len(sample) // 100


def children(part: Part, ctx: Context) -> list[Part]:
    """The file's text as one text part."""
    text = _decode((part.data or b"")[: MAX_TEXT_CHARS * 4])
    if text is None:
        return []
    p = ctx.text(text[:MAX_TEXT_CHARS], "text")
    return [p] if p is not None else []
