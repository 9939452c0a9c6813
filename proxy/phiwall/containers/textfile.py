"""Plain text and CSV uploads: a file part whose bytes are text becomes a text part, so the text PHI detector
reads it ("patients.csv" is the commonest way a list of names reaches a chatbot as a file).

Magic bytes cannot say "text", so this is a content test: the first 8 KB decode as UTF-8 (or UTF-16 with a BOM)
and hold almost no control characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from phiwall.containers.registry import MAX_TEXT_CHARS
from phiwall.containers.registry import Context
from phiwall.locators import NotRewritable
from phiwall.locators import RewriteError
from phiwall.locators import Step
from phiwall.locators import Value
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


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


@dataclass(frozen=True, slots=True)
class TextFile(Step):
    """A text file's bytes as text, written back in the same encoding, with the byte-order mark it had."""

    encoding: str = "utf-8"
    bom: bytes = b""

    def read(self, outer: Value) -> Value:
        if not isinstance(outer, bytes):
            raise RewriteError("stale", "a text file is bytes")
        try:
            return outer[len(self.bom) :].decode(self.encoding)
        except UnicodeDecodeError:
            raise RewriteError("stale", "the text file no longer decodes") from None

    def write(self, outer: Value, inner: Value) -> Value:
        if not isinstance(inner, str):
            raise RewriteError("bad_edit", "a text file takes text, not bytes")
        try:
            return self.bom + inner.encode(self.encoding)
        except UnicodeEncodeError:
            raise RewriteError("not_rewritable", "the new text cannot be written in this file's encoding") from None


def text_step(data: bytes) -> Step:
    """How to write a text file back: its encoding and BOM, or why not (cut at the size limit, invalid bytes)."""
    too_long = NotRewritable("this text file is too long for phiwall to rewrite; send it in smaller files")
    if len(data) > MAX_TEXT_CHARS * 4:
        return too_long
    bom, enc = next(((b, e) for b, e in _BOMS if data.startswith(b)), (b"", "utf-8"))
    try:
        if len(data[len(bom) :].decode(enc)) > MAX_TEXT_CHARS:
            return too_long
    except UnicodeDecodeError:
        return NotRewritable(
            "this text file has bytes that are not valid text, so phiwall cannot rewrite it without changing them; "
            "save it as UTF-8 and send it again"
        )
    return TextFile(enc, bom)


def children(part: Part, ctx: Context) -> list[Part]:
    """The file's text as one text part."""
    data = part.data or b""
    text = _decode(data[: MAX_TEXT_CHARS * 4])
    if text is None:
        return []
    p = ctx.text(text[:MAX_TEXT_CHARS], "text", steps=(text_step(data),))
    return [p] if p is not None else []
