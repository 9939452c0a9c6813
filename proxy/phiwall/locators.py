"""Reversible locators: how a part's value is reached from the request body, one step at a time, and how a new
value is written back into exactly that place.

A `Locator` (phiwall.model) carries `steps`, outermost first: `Form("f.req", 3) → Json(1) → Json(0, 0)` for the
Gemini web prompt, `Multipart(2, b) → Jsonl(7) → Json("body", "messages", 0, "content", 1, "image_url", "url") →
DataUrl() → Base64(...)` for an image in an OpenAI batch file, `GrpcFrame(0) → Field(1, 2) → Field(0, 1)` for
a gRPC text field. Each step is a frozen dataclass (picklable: envelopes cross to worker processes) with

    read(outer) -> inner            the value one level down
    write(outer, new_inner) -> new  the outer value with the inner one replaced, re-encoded as it was found

Steps splice rather than re-serialise: every byte outside the edited place stays as sent (JSON whitespace and
key order, other form pairs, multipart part headers and boundary, other protobuf fields), so a service reads an
edited request exactly as it would have read the original, apart from the edit. `apply` walks a set of edits
down the chains, grouping edits that share a prefix so each layer is decoded and re-encoded once.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from urllib.parse import quote_from_bytes
from urllib.parse import unquote_plus
from urllib.parse import unquote_to_bytes

from phiwall.errors import PhiWallError

if TYPE_CHECKING:
    from phiwall.model import Part

Value = str | bytes
Edits = Mapping[str, Value]  # Part.id -> new value (str for a text part, bytes for a file part)


class RewriteError(PhiWallError):
    """A de-identified value cannot be written back into the request.

    `code` says why (PHI-free): `not_rewritable` (a format phiwall has no writer for, a derived or lossy part),
    `bad_edit` (a str for a file part or bytes for a text part), `unknown_part`, `conflict` (two edits on one
    place, or on a place and its container), `boundary_collision` (the new content contains the multipart
    boundary), `stale` (the body no longer has the shape the locator recorded). Callers block with `str(e)`.
    """

    kind: ClassVar[str] = "rewrite"
    status: ClassVar[int] = 403

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = message


class Step:
    """One reversible layer between an outer value and an inner one. Subclasses are frozen dataclasses."""

    __slots__ = ()

    def read(self, outer: Value) -> Value:
        """The inner value. Raises RewriteError("stale") when `outer` no longer has the recorded shape."""
        raise NotImplementedError

    def write(self, outer: Value, inner: Value) -> Value:
        """`outer` with the inner value replaced by `inner`, re-encoded the way it was found."""
        raise NotImplementedError

    def label(self) -> str:
        """A PHI-free name for messages (never a key or member name the user chose)."""
        return type(self).__name__


def _stale(step: Step, what: str) -> RewriteError:
    return RewriteError("stale", f"the request no longer has the shape phiwall recorded ({step.label()}: {what})")


def _text(step: Step, v: Value) -> str:
    if isinstance(v, str):
        return v
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError:
        raise _stale(step, "not UTF-8") from None


def _same_type(template: Value, s: str) -> Value:
    return s.encode("utf-8") if isinstance(template, bytes) else s


def _bytes(step: Step, v: Value) -> bytes:
    if isinstance(v, bytes):
        return v
    raise RewriteError("bad_edit", f"{step.label()} expects bytes, got text")


# ---------------------------------------------------------------------------------------------------------------
# JSON: locate the span of a value by path, splice a new string literal in


_WS = re.compile(r"[ \t\n\r]*")


def _ws(s: str, i: int) -> int:
    m = _WS.match(s, i)
    return m.end() if m else i


def _string_end(s: str, i: int) -> int:
    """The end of the string literal opening at `i`: found with str.find, so skipping a multi-megabyte base64
    literal costs one C-level scan and no copy."""
    j = i + 1
    while True:
        k = s.find('"', j)
        if k < 0:
            raise ValueError("unterminated string")
        b = k
        while s[b - 1] == "\\":
            b -= 1
        if (k - b) % 2 == 0:
            return k + 1
        j = k + 1


_STRUCTURE = re.compile(r'["\[\]{}]')
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")


def _value_end(s: str, i: int) -> int:
    """The end of the JSON value starting at `i`, found without decoding it: the documents were parsed with
    json.loads at extraction, so brackets are balanced and only strings need care."""
    if i >= len(s):
        raise ValueError("truncated")
    c = s[i]
    if c == '"':
        return _string_end(s, i)
    if c in "[{":
        depth, pos = 0, i
        while True:
            m = _STRUCTURE.search(s, pos)
            if m is None:
                raise ValueError("unbalanced")
            k = m.start()
            if s[k] == '"':
                pos = _string_end(s, k)
                continue
            depth += 1 if s[k] in "[{" else -1
            pos = k + 1
            if depth == 0:
                return pos
    m = _SCALAR.match(s, i)
    if m is None:
        raise ValueError(f"invalid JSON at {i}")
    return m.end()


def json_span(s: str, path: Sequence[str | int]) -> tuple[int, int]:
    """The (start, end) character span of the value at `path` in the JSON text `s`. For a key that occurs twice
    in one object the last one counts, as in `json.loads`. Raises ValueError or KeyError/IndexError."""
    key = tuple(path)
    return json_spans(s, [key])[key]


_LEAF = object()  # marks, in a trie of paths, where a requested path ends


def json_spans(s: str, paths: Sequence[tuple[str | int, ...]]) -> dict[tuple[str | int, ...], tuple[int, int]]:
    """The spans of many paths in one walk over the JSON text `s` (each value is scanned once, whatever the number
    of paths: a 71-message conversation costs one pass, not 71). Same rules as `json_span`; raises alike."""
    trie: dict[Any, Any] = {}
    for path in paths:
        node = trie
        for key in path:
            node = node.setdefault(key, {})
        node[_LEAF] = path
    out: dict[tuple[str | int, ...], tuple[int, int]] = {}
    _walk_spans(s, _ws(s, 1 if s.startswith("\ufeff") else 0), trie, out)
    for path in paths:
        if path not in out:
            raise KeyError(path[-1] if path else "")
    return out


def _walk_spans(s: str, i: int, trie: dict[Any, Any], out: dict[tuple[str | int, ...], tuple[int, int]]) -> int:
    """Record the span of every path of `trie` under the value at `i`; return that value's end."""
    children = [k for k in trie if k is not _LEAF]
    if not children:
        end = _value_end(s, i)
    elif i >= len(s):
        raise ValueError("truncated")
    elif s[i] == "[":
        wanted = {k for k in children if isinstance(k, int)}
        j, n = _ws(s, i + 1), 0
        if s[j : j + 1] == "]":
            end = j + 1
        else:
            while True:
                e = _walk_spans(s, j, trie[n], out) if n in wanted else _value_end(s, j)
                j = _ws(s, e)
                if s[j : j + 1] == ",":
                    j, n = _ws(s, j + 1), n + 1
                elif s[j : j + 1] == "]":
                    end = j + 1
                    break
                else:
                    raise ValueError("comma expected")
    elif s[i] == "{":
        wanted_keys = {k for k in children if isinstance(k, str)}
        last: dict[str, int] = {}  # a key given twice: the last one counts, as in json.loads
        j = _ws(s, i + 1)
        while s[j : j + 1] != "}":
            if s[j : j + 1] != '"':
                raise ValueError("object key expected")
            k, j = scanstring(s, j + 1)
            j = _ws(s, j)
            if s[j : j + 1] != ":":
                raise ValueError("colon expected")
            j = _ws(s, j + 1)
            if k in wanted_keys:
                last[k] = j
            e = _ws(s, _value_end(s, j))
            if s[e : e + 1] == ",":
                j = _ws(s, e + 1)
            elif s[e : e + 1] == "}":
                j = e
                break
            else:
                raise ValueError("comma expected")
        end = j + 1
        for k, at in last.items():
            _walk_spans(s, at, trie[k], out)
    else:
        end = _value_end(s, i)  # a scalar where a container was expected: its paths stay missing
    if _LEAF in trie:
        out[trie[_LEAF]] = (i, end)
    return end


# A \uXXXX escape of a non-ASCII character (0080 and up), not preceded by an escaped backslash.
_NON_ASCII_ESCAPE = re.compile(
    r"(?<!\\)(?:\\\\)*\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)


def _style_of(sample: str) -> bool | None:
    if not sample.isascii():
        return False
    if "\\u" in sample and _NON_ASCII_ESCAPE.search(sample):
        return True
    return None


def doc_ascii_style(doc: str) -> bool:
    """The document's own evidence for `_ascii_style` (computed once for many literals of one document)."""
    style = _style_of(doc[:65536])
    return True if style is None else style


def _ascii_style(literal: str, doc: str, doc_style: bool | None = None) -> bool:
    """Whether the serialiser that wrote this document escaped non-ASCII characters (Python's default) or wrote
    them raw (JavaScript, httpx): judged from the literal itself, else from the document around it. A document
    with no evidence either way is pure ASCII, and stays so (escapes are read by every JSON parser)."""
    style = _style_of(literal)
    if style is not None:
        return style
    return doc_ascii_style(doc) if doc_style is None else doc_style


def encode_json_string(new: str, literal: str, doc: str = "", *, doc_style: bool | None = None) -> str:
    """A JSON string literal for `new`, escaped the way `literal` (the one it replaces) was; `doc_style` is
    `doc_ascii_style(doc)` when the caller already knows it."""
    ascii_style = _ascii_style(literal, doc, doc_style)
    if not ascii_style and not new.isascii():
        try:
            new.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud83d" in the original): only an escape can carry it
            ascii_style = True
    out = json.dumps(new, ensure_ascii=ascii_style)
    if "\\/" in literal:
        out = out.replace("/", "\\/")
    return out


@dataclass(frozen=True, slots=True)
class Json(Step):
    """The string at a JSON path in a JSON text (a body, a form value, a JSONL line, or a JSON string's value)."""

    path: tuple[str | int, ...]

    def __init__(self, *path: str | int) -> None:
        object.__setattr__(self, "path", tuple(path))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Json, self.path)

    def label(self) -> str:
        return "Json"

    def _span(self, s: str) -> tuple[int, int]:
        try:
            return json_span(s, self.path)
        except (ValueError, KeyError, IndexError):
            raise _stale(self, "path not found") from None

    def read(self, outer: Value) -> Value:
        s = _text(self, outer)
        a, b = self._span(s)
        v = json.loads(s[a:b])
        if not isinstance(v, str):
            raise _stale(self, "not a string")
        return v

    def write(self, outer: Value, inner: Value) -> Value:
        return Json.write_many(outer, [(self, inner)])

    @staticmethod
    def _spans(step: Step, s: str, steps: Sequence[Json]) -> dict[tuple[str | int, ...], tuple[int, int]]:
        try:
            return json_spans(s, [j.path for j in steps])
        except (ValueError, KeyError, IndexError):
            raise _stale(step, "path not found") from None

    @staticmethod
    def read_many(outer: Value, steps: Sequence[Step]) -> list[Value]:
        """The strings at many paths of one document: decoded once, walked once."""
        js = [j for j in steps if isinstance(j, Json)]
        s = _text(js[0], outer)
        spans = Json._spans(js[0], s, js)
        out: list[Value] = []
        for j in js:
            a, b = spans[j.path]
            v = json.loads(s[a:b])
            if not isinstance(v, str):
                raise _stale(j, "not a string")
            out.append(v)
        return out

    @staticmethod
    def write_many(outer: Value, items: Sequence[tuple[Step, Value]]) -> Value:
        """Every (path, new string) spliced into one document in one walk, from the end backwards."""
        js = [(j, v) for j, v in items if isinstance(j, Json)]
        for _, v in js:
            if not isinstance(v, str):
                raise RewriteError("bad_edit", "a JSON string takes text, not bytes")
        s = _text(js[0][0], outer)
        spans = Json._spans(js[0][0], s, [j for j, _ in js])
        style = doc_ascii_style(s)
        pieces = sorted(((spans[j.path], v) for j, v in js), key=lambda t: t[0][0], reverse=True)
        out, tail = [], len(s)
        for (a, b), v in pieces:
            out.append(s[b:tail])
            out.append(encode_json_string(str(v), s[a:b], doc_style=style))
            tail = a
        out.append(s[:tail])
        return _same_type(outer, "".join(reversed(out)))


# ---------------------------------------------------------------------------------------------------------------
# x-www-form-urlencoded


_FORM_SAFE_CANDIDATES = "!*'()~:,/;@$[]"


def _form_pairs(s: str) -> list[tuple[int, int]]:
    """Spans of the non-empty `&`-separated pairs, counted as `urllib.parse.parse_qsl` counts them."""
    out = []
    pos = 0
    for seg in s.split("&"):
        if seg:
            out.append((pos, pos + len(seg)))
        pos += len(seg) + 1
    return out


def _form_pair(step: Step, s: str, index: int) -> tuple[int, int, int]:
    """(start, end of the key, end) of the `index`-th pair; stale when the form has fewer."""
    pairs = _form_pairs(s)
    if index >= len(pairs):
        raise _stale(step, "pair missing")
    a, b = pairs[index]
    eq = s.find("=", a, b)
    return a, (b if eq < 0 else eq), b


@dataclass(frozen=True, slots=True)
class Form(Step):
    """The value of the `index`-th pair (named `name`) of a url-encoded form (`parse_qsl` numbering)."""

    name: str
    index: int

    def label(self) -> str:
        return "Form"

    def _pair(self, s: str) -> tuple[int, int, int]:
        a, key_end, b = _form_pair(self, s, self.index)
        if unquote_plus(s[a:key_end]) != self.name:
            raise _stale(self, "pair renamed")
        return a, key_end, b

    def read(self, outer: Value) -> Value:
        s = _text(self, outer)
        _, k, b = self._pair(s)
        return unquote_plus(s[k + 1 : b]) if k < b else ""

    def write(self, outer: Value, inner: Value) -> Value:
        if not isinstance(inner, str):
            raise RewriteError("bad_edit", "a form field takes text, not bytes")
        s = _text(self, outer)
        _, k, b = self._pair(s)
        raw = s[k + 1 : b] if k < b else ""
        try:
            unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            # parse_qsl read it with U+FFFD replacements: writing the edited text back would change bytes
            # nobody edited.
            raise RewriteError(
                "not_rewritable", "this form field is not valid UTF-8, so phiwall cannot rewrite it"
            ) from None
        safe = "".join(ch for ch in _FORM_SAFE_CANDIDATES if ch in raw)
        if "%20" in raw and "+" not in raw:
            enc = quote_from_bytes(inner.encode("utf-8"), safe=safe)
        else:
            enc = quote_from_bytes(inner.encode("utf-8"), safe=safe + " ").replace(" ", "+")
        return _same_type(outer, s[:k] + "=" + enc + s[b:])


@dataclass(frozen=True, slots=True)
class FormKey(Step):
    """The *key* of the `index`-th pair of a url-encoded form: the Gemini web upload start body is
    `File+name%3A+scan.png=`, a form whose key is the text."""

    index: int

    def label(self) -> str:
        return "FormKey"

    def _pair(self, s: str) -> tuple[int, int]:
        a, k, _ = _form_pair(self, s, self.index)
        return a, k

    def read(self, outer: Value) -> Value:
        s = _text(self, outer)
        a, k = self._pair(s)
        return unquote_plus(s[a:k])

    def write(self, outer: Value, inner: Value) -> Value:
        if not isinstance(inner, str):
            raise RewriteError("bad_edit", "a form key takes text, not bytes")
        s = _text(self, outer)
        a, k = self._pair(s)
        raw = s[a:k]
        safe = "".join(ch for ch in _FORM_SAFE_CANDIDATES if ch in raw)
        enc = quote_from_bytes(inner.encode("utf-8"), safe=safe + " ").replace(" ", "+")
        return _same_type(outer, s[:a] + enc + s[k:])


# ---------------------------------------------------------------------------------------------------------------
# multipart/form-data


def multipart_spans(body: bytes, boundary: str) -> list[tuple[int, int, int]]:
    """(part start, body start, body end) of every part. The one multipart scanner: `extractors.base` parses with
    it too, so what is extracted and what is written back are the same bytes. Raises ValueError with a reason."""
    delim = b"--" + boundary.encode("latin-1")
    out = []
    pos = body.find(delim)
    if pos < 0:
        raise ValueError("multipart body does not contain its boundary")
    while True:
        pos += len(delim)
        if body[pos : pos + 2] == b"--":
            break
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise ValueError("multipart body is truncated (delimiter line)")
        start = eol + 2
        nxt = body.find(b"\r\n" + delim, start)
        if nxt < 0:
            raise ValueError("multipart body is truncated (no closing boundary)")
        head_end = body.find(b"\r\n\r\n", start, nxt)
        if head_end < 0:
            raise ValueError("multipart part has no header/body separator")
        out.append((start, head_end + 4, nxt))
        pos = nxt + 2
    return out


def _multipart_part(step: Step, body: bytes, boundary: str, index: int) -> tuple[int, int, int]:
    """(part start, body start, body end) of the `index`-th part; stale when the body is not that multipart."""
    try:
        spans = multipart_spans(body, boundary)
    except ValueError:
        raise _stale(step, "not multipart") from None
    if index >= len(spans):
        raise _stale(step, "part missing")
    return spans[index]


@dataclass(frozen=True, slots=True)
class Multipart(Step):
    """The body of the `index`-th part of a multipart body with this boundary. Headers, boundary, preamble and
    epilogue are not touched: an unedited part stays byte-identical, an edited one keeps its headers."""

    index: int
    boundary: str

    def label(self) -> str:
        return "Multipart"

    def _span(self, body: bytes) -> tuple[int, int]:
        _, a, b = _multipart_part(self, body, self.boundary, self.index)
        return a, b

    def read(self, outer: Value) -> Value:
        body = _bytes(self, outer)
        a, b = self._span(body)
        return body[a:b]

    def write(self, outer: Value, inner: Value) -> Value:
        body = _bytes(self, outer)
        data = inner if isinstance(inner, bytes) else inner.encode("utf-8")
        marker = b"\r\n--" + self.boundary.encode("latin-1")
        if (data + marker).find(marker) != len(data):
            raise RewriteError(
                "boundary_collision",
                "the de-identified file contains the upload's multipart boundary; send the file again",
            )
        a, b = self._span(body)
        return body[:a] + data + body[b:]


_FILENAME = re.compile(rb'(;\s*filename=)(?:"((?:[^"\\\r\n]|\\.)*)"|([^;\r\n]*))', re.IGNORECASE)
_FILENAME_STAR = re.compile(rb"(;\s*filename\*=)([^;\r\n]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MultipartFilename(Step):
    """The `filename` parameter of the index-th part's Content-Disposition header (a file name often names the
    patient: "Okafor_Margaret_CT.dcm"). Written as a quoted string; an RFC 5987 `filename*` is rewritten too, so
    no copy of the old name stays in the header."""

    index: int
    boundary: str

    def label(self) -> str:
        return "MultipartFilename"

    def _header(self, body: bytes) -> tuple[int, int]:
        start, data_start, _ = _multipart_part(self, body, self.boundary, self.index)
        return start, data_start - 4

    @staticmethod
    def name_in(head: bytes) -> str | None:
        """The `filename` of a part's header block, unescaped as a quoted string is; None without one."""
        m = _FILENAME.search(head)
        if m is None:
            return None
        raw = m.group(2) if m.group(2) is not None else m.group(3)
        return re.sub(rb"\\(.)", rb"\1", raw).decode("utf-8", errors="replace")

    def read(self, outer: Value) -> Value:
        body = _bytes(self, outer)
        a, b = self._header(body)
        name = MultipartFilename.name_in(body[a:b])
        if name is None:
            raise _stale(self, "no filename")
        return name

    def write(self, outer: Value, inner: Value) -> Value:
        if not isinstance(inner, str) or any(ch in inner for ch in "\r\n"):
            raise RewriteError("bad_edit", "a file name takes one line of text")
        body = _bytes(self, outer)
        a, b = self._header(body)
        head = body[a:b]
        quoted = inner.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8")
        head, n = _FILENAME.subn(lambda m: m.group(1) + b'"' + quoted + b'"', head, count=1)
        if n == 0:
            raise _stale(self, "no filename")
        star = b"UTF-8''" + quote_from_bytes(inner.encode("utf-8"), safe="").encode("ascii")
        head = _FILENAME_STAR.sub(lambda m: m.group(1) + star, head, count=1)
        return body[:a] + head + body[b:]


# ---------------------------------------------------------------------------------------------------------------
# file names as words


# Extensions kept out of a file name's text (never PHI, and a detector would read "CT.dcm" as part of a name):
# Python's built-in table (not the machine's /etc/mime.types, so every host reads a name alike; no one-letter ones,
# which could be an initial: "Doe.A") plus medical ones.
_EXTENSIONS = frozenset(e for e in mimetypes.MimeTypes(filenames=()).types_map[1] if len(e) > 2) | frozenset(
    {".dcm", ".dicom", ".dic", ".nii", ".nrrd", ".mha", ".mhd", ".jsonl", ".heic", ".heif", ".webp", ".tgz", ".gz"}
)
_SEPARATORS = "_-.+"


@dataclass(frozen=True, slots=True)
class NameWords(Step):
    """A file name as the words a person reads: "Okafor_Margaret_CT.dcm" → "Okafor Margaret CT". The extension
    (`ext`, up to two known ones: ".nii.gz") is kept aside and `sep` (the name's one word separator) reads as a
    space; both are put back on writing, so a de-identified name keeps its extension and its style
    ("[PATIENT_1]_CT.dcm"). Only made for names without spaces, so reading and writing are exact inverses."""

    sep: str = ""
    ext: str = ""

    @classmethod
    def of(cls, name: str) -> Chain:
        """The step for `name`, or no step when the name already reads as words and has no known extension."""
        stem, ext = name, ""
        for _ in range(2):
            dot = stem.rfind(".")
            if dot <= 0 or stem[dot:].lower() not in _EXTENSIONS:
                break
            stem, ext = stem[:dot], stem[dot:] + ext
        sep = ""
        if " " not in stem:
            counts = {c: stem.count(c) for c in _SEPARATORS if c in stem}
            sep = max(counts, key=lambda c: counts[c]) if counts else ""
        return (cls(sep, ext),) if sep or ext else ()

    def read(self, outer: Value) -> Value:
        s = _text(self, outer)
        if self.ext and not s.endswith(self.ext):
            raise _stale(self, "extension changed")
        stem = s[: len(s) - len(self.ext)]
        return stem.replace(self.sep, " ") if self.sep else stem

    def write(self, outer: Value, inner: Value) -> Value:
        if not isinstance(inner, str):
            raise RewriteError("bad_edit", "a file name takes text, not bytes")
        stem = inner.replace(" ", self.sep) if self.sep else inner
        return _same_type(outer, stem + self.ext)


# ---------------------------------------------------------------------------------------------------------------
# JSON Lines


@dataclass(frozen=True, slots=True)
class Jsonl(Step):
    """Line `line` (0-based, as `splitlines` counts) of a JSON Lines text; its line ending is kept."""

    line: int

    def label(self) -> str:
        return "Jsonl"

    def _lines(self, outer: Value) -> list[Any]:
        lines: list[Any] = outer.splitlines(keepends=True)
        if self.line >= len(lines):
            raise _stale(self, "line missing")
        return lines

    def read(self, outer: Value) -> Value:
        raw = self._lines(outer)[self.line]
        body: Value = raw.rstrip(b"\r\n") if isinstance(raw, bytes) else raw.rstrip("\r\n")
        return body

    def write(self, outer: Value, inner: Value) -> Value:
        lines = self._lines(outer)
        raw = lines[self.line]
        if isinstance(outer, bytes):
            new = inner if isinstance(inner, bytes) else inner.encode("utf-8")
            if b"\n" in new or b"\r" in new:
                raise RewriteError("bad_edit", "a JSON Lines record cannot hold a line break")
            lines[self.line] = new + raw[len(raw.rstrip(b"\r\n")) :]
            return b"".join(lines)
        new_s = inner if isinstance(inner, str) else inner.decode("utf-8")
        if "\n" in new_s or "\r" in new_s:
            raise RewriteError("bad_edit", "a JSON Lines record cannot hold a line break")
        lines[self.line] = new_s + raw[len(raw.rstrip("\r\n")) :]
        return "".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# text, data URLs, base64, percent-encoding


@dataclass(frozen=True, slots=True)
class Utf8(Step):
    """Bytes read as UTF-8 text. `lossy`: the bytes were not valid UTF-8, so the part's text has U+FFFD where
    they were; writing it back would change bytes nobody edited, so it is refused."""

    lossy: bool = False

    def read(self, outer: Value) -> Value:
        if isinstance(outer, str):
            return outer
        return outer.decode("utf-8", errors="replace")

    def write(self, outer: Value, inner: Value) -> Value:
        if self.lossy:
            raise RewriteError(
                "not_rewritable",
                "this text is not valid UTF-8, so phiwall cannot rewrite it without changing other characters; "
                "save it as UTF-8 and send it again",
            )
        if isinstance(inner, bytes):
            return inner
        return inner.encode("utf-8") if isinstance(outer, bytes) else inner


@dataclass(frozen=True, slots=True)
class DataUrl(Step):
    """`data:<mime>[;params],<payload>` → the payload text; the header is kept as sent."""

    def _comma(self, s: str) -> int:
        i = s.find(",", 0, 1024)
        if not s[:5].lower() == "data:" or i < 0:
            raise _stale(self, "not a data URL")
        return i

    def read(self, outer: Value) -> Value:
        s = _text(self, outer)
        return s[self._comma(s) + 1 :]

    def write(self, outer: Value, inner: Value) -> Value:
        s = _text(self, outer)
        payload = inner if isinstance(inner, str) else inner.decode("ascii")
        return _same_type(outer, s[: self._comma(s) + 1] + payload)


@dataclass(frozen=True, slots=True)
class Base64(Step):
    """Base64 text ↔ bytes, written back in the alphabet, padding and line wrapping it was found in."""

    urlsafe: bool = False
    padded: bool = True
    wrap: int = 0  # line length, 0 for one line
    newline: str = "\n"
    trailing: str = ""  # whitespace after the last character

    @classmethod
    def like(cls, s: str) -> Base64:
        """The style of an existing base64 text."""
        # Runs on every base64 value at extraction (multi-megabyte images): C-level scans only, no copies.
        body = s.rstrip()
        trailing = s[len(body) :]
        first = body.find("\n")
        wrap, newline, breaks = 0, "\n", 0
        if first >= 0:
            newline = "\r\n" if body[first - 1 : first] == "\r" else "\n"
            wrap = first - (len(newline) - 1)
            breaks = body.count("\n") * len(newline)
        urlsafe = body.find("-") >= 0 or body.find("_") >= 0
        padded = body.endswith("=") or (len(body) - breaks) % 4 == 0
        return cls(urlsafe, padded, wrap, newline, trailing)

    def read(self, outer: Value) -> Value:
        from phiwall.errors import ExtractionError
        from phiwall.extractors.base import decode_b64

        try:
            return decode_b64(_text(self, outer))
        except ExtractionError:
            raise _stale(self, "not base64") from None

    def write(self, outer: Value, inner: Value) -> Value:
        data = _bytes(self, inner)
        s = (base64.urlsafe_b64encode if self.urlsafe else base64.b64encode)(data).decode("ascii")
        if not self.padded:
            s = s.rstrip("=")
        if self.wrap:
            s = self.newline.join(s[i : i + self.wrap] for i in range(0, len(s), self.wrap))
        return _same_type(outer, s + self.trailing)


@dataclass(frozen=True, slots=True)
class Percent(Step):
    """A percent-encoded data URL payload ↔ bytes."""

    def read(self, outer: Value) -> Value:
        return unquote_to_bytes(_text(self, outer))

    def write(self, outer: Value, inner: Value) -> Value:
        return _same_type(outer, quote_from_bytes(_bytes(self, inner), safe="/:;=?@&+$,-_.!~*'()"))


@dataclass(frozen=True, slots=True)
class NotRewritable(Step):
    """A place phiwall can read but not write: a value derived from the container (a PDF's text layer, a
    rendering, text joined from a Word document's paragraphs) or a format with no writer. `reason` is PHI-free
    and says what the person can do; it becomes the block reason."""

    reason: str

    def read(self, outer: Value) -> Value:
        raise RewriteError("not_rewritable", self.reason)

    def write(self, outer: Value, inner: Value) -> Value:
        raise RewriteError("not_rewritable", self.reason)


# ---------------------------------------------------------------------------------------------------------------
# the engine


Chain = tuple[Step, ...]
Edit = tuple[Chain, Value]


def read(value: Value, steps: Chain) -> Value:
    """The value at the end of a chain (what the part held), read from a body."""
    for s in steps:
        value = s.read(value)
    return value


def apply(value: Value, edits: Sequence[Edit], *, force: bool = False) -> Value:
    """Write every (chain, new value) into `value`; each shared layer is decoded and re-encoded once, and a layer
    whose inner value did not change is left exactly as it was (so zip and gzip layers are rebuilt only when a
    member really changed). `force` re-encodes unchanged layers too: tests use it to prove that every step
    writes a value back exactly as it found it."""
    if not edits:
        return value
    if any(not steps for steps, _ in edits):
        if len(edits) > 1:
            raise RewriteError("conflict", "two edits for one place (or for a place and its container)")
        return edits[0][1]
    groups: dict[Step, list[Edit]] = {}
    for steps, new in edits:
        groups.setdefault(steps[0], []).append((steps[1:], new))
    # Steps one at a time first; then the kinds that read and write many places of one value at once (JSON
    # paths of one document, members of one archive): each such layer is decoded, walked and rebuilt once.
    kinds: dict[type[Step], list[Step]] = {}
    for step, sub in groups.items():
        if hasattr(type(step), "write_many"):
            kinds.setdefault(type(step), []).append(step)
            continue
        inner = step.read(value)
        new_inner = apply(inner, sub, force=force)
        if force or new_inner != inner or type(new_inner) is not type(inner):
            value = step.write(value, new_inner)
    # Every such kind reads the value as it is now before any of them writes: the members of one ZIP get their new
    # bytes (ZipMember, by index) and their new names (ZipNames) from one reading of the archive.
    writes: list[tuple[type[Step], list[tuple[Step, Value]]]] = []
    for cls, same_kind in kinds.items():
        reader = getattr(cls, "read_many", None)
        inners = reader(value, same_kind) if reader is not None else [st.read(value) for st in same_kind]
        items: list[tuple[Step, Value]] = []
        for step, inner in zip(same_kind, inners, strict=True):
            new_inner = apply(inner, groups[step], force=force)
            if force or new_inner != inner or type(new_inner) is not type(inner):
                items.append((step, new_inner))
        if items:
            writes.append((cls, items))
    for cls, items in writes:
        value = cls.write_many(value, items)  # type: ignore[attr-defined]
    return value


def check_edit(part: Part, new: Value) -> None:
    """A text part takes a str, a file part bytes (`bad_edit` otherwise)."""
    from phiwall.model import PartKind

    want = str if part.kind == PartKind.TEXT else bytes
    if not isinstance(new, want):
        raise RewriteError(
            "bad_edit", f"part {part.id} is a {part.kind} part and takes {want.__name__}, not {type(new).__name__}"
        )


def chain_of(part: Part) -> Chain:
    """The part's chain from the body; `not_rewritable` when extraction recorded none."""
    loc = part.locator
    if loc.steps:
        return loc.steps
    if loc.container == "body" and not loc.path and part.kind.value == "file":
        return ()
    raise RewriteError(
        "not_rewritable", f"phiwall does not know how to write back into {loc.audit_where()}; nothing was sent"
    )


def write_blocker(part: Part) -> str | None:
    """Why `part` cannot be written back, or None (see `Part.not_rewritable`)."""
    try:
        steps = chain_of(part)
    except RewriteError as e:
        return e.reason
    for s in steps:
        if isinstance(s, NotRewritable):
            return s.reason
        if isinstance(s, Utf8) and s.lossy:
            try:
                s.write(b"", "")
            except RewriteError as e:
                return e.reason
    return None


def rewrite_parts(body: bytes, parts: Sequence[Part], edits: Edits, *, force: bool = False) -> bytes:
    """The body with each edited part's new value written into its place.

    Args:
        body: the decoded request body the parts were extracted from.
        parts: the envelope's parts (container children included when their ids are edited).
        edits: Part.id -> new value (str for a text part, bytes for a file part).
        force: re-encode layers whose value did not change (tests of the steps' fidelity).

    Returns:
        The new body; `body` itself when `edits` is empty.

    Raises:
        RewriteError: a part cannot be written back (see its `code`).
    """
    if not edits:
        return body
    by_id = {p.id: p for p in parts}
    todo: list[Edit] = []
    for pid, new in edits.items():
        part = by_id.get(pid)
        if part is None:
            raise RewriteError("unknown_part", f"no part {pid} in this request")
        check_edit(part, new)
        todo.append((chain_of(part), new))
    out = apply(body, todo, force=force)
    return out if isinstance(out, bytes) else out.encode("utf-8")


def relative(child: Part, parent: Part) -> Chain:
    """A container child's own steps below its parent's bytes."""
    pc, cc = parent.locator.steps, child.locator.steps
    if cc[: len(pc)] != pc:
        raise RewriteError("not_rewritable", "this item's place inside its container was not recorded")
    return cc[len(pc) :]
