"""Shared machinery for service adapters: the adapter contract, and the body formats every service reuses
(JSON walking, data URLs and base64 in both alphabets, multipart, url-encoded forms).

Files are recognised by decoding and sniffing magic bytes, never by the declared MIME type or filename.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any
from typing import ClassVar
from typing import Protocol

from phiwall import sniff
from phiwall.errors import ExtractionError
from phiwall.locators import Base64
from phiwall.locators import Chain
from phiwall.locators import DataUrl
from phiwall.locators import Form
from phiwall.locators import Json
from phiwall.locators import Multipart
from phiwall.locators import MultipartFilename
from phiwall.locators import NameWords
from phiwall.locators import NotRewritable
from phiwall.locators import Percent
from phiwall.locators import Utf8
from phiwall.locators import multipart_spans
from phiwall.locators import read
from phiwall.locators import rewrite_parts
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Finding
from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind
from phiwall.model import safe_path
from phiwall.request import RequestData

JsonPath = tuple[str | int, ...]


class Adapter(Protocol):
    """Knows one service's request shapes, both ways."""

    service: ClassVar[str]
    reply_stream: ClassVar[str]  # the reply's stream format (see `Rewriting.reply_stream`)

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        """Take a decoded request body apart. Raise ExtractionError when the shape is not understood: the policy's
        `on_error` decides what that means, and the audit event names the endpoint."""
        ...

    def rewrite(
        self, req: RequestData, body: bytes, edits: Mapping[str, str | bytes], parts: Sequence[Part] | None = None
    ) -> bytes:
        """The decoded body with each edited part (Part.id -> new text or bytes) written back into its place,
        every other byte as sent; `body` itself for no edits. Raises `phiwall.locators.RewriteError`."""
        ...

    def registers_upload(self, method: str, path: str) -> bool:
        """Whether the request registers a file whose bytes a later request sends (see `Rewriting`)."""
        ...

    def registered_upload(self, reply: Any) -> tuple[str, str] | None:
        """(upload URL, file id) named by the reply to a registering request."""
        ...


class Rewriting:
    """`rewrite` for adapters whose parts carry full locator chains (all of them): the chain knows the way back,
    so an adapter needs no code of its own to write a value into the place it read it from."""

    # The reply's stream format for restoring stand-ins (`phiwall.deid.restore.delta_finder`): the service's own
    # reply shape, next to its request shapes. OpenAI's is the default (most OpenAI-compatible services use it).
    reply_stream: ClassVar[str] = "openai_chat"

    def registers_upload(self, method: str, path: str) -> bool:
        """Whether this request registers a file before its bytes go elsewhere (its reply names the upload URL
        and the file id phiwall must remember). Only services with a two-step upload say yes."""
        return False

    def registered_upload(self, reply: Any) -> tuple[str, str] | None:
        """(upload URL, file id) from the reply to a registering request, or None when the reply has neither."""
        return None

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        raise NotImplementedError

    def rewrite(
        self, req: RequestData, body: bytes, edits: Mapping[str, str | bytes], parts: Sequence[Part] | None = None
    ) -> bytes:
        """See `Adapter.rewrite`. Without `parts`, the body is extracted again (top-level parts only)."""
        if not edits:
            return body
        if parts is None:
            parts = self.extract(req, body).parts
        return rewrite_parts(body, parts, edits)


@dataclass
class PartCollector:
    """Builds Parts with unique ids while an adapter walks a body.

    `doc` is the JSON document being walked: the chain from the body to its text, and how many leading elements
    of a display path belong to the layers outside it (a JSON path ("f.req", 1, 0, 0) inside the Gemini web form
    is `Form("f.req", n) → Json(1) → Json(0, 0)`: two outer elements). Adapters set it with `document()`.
    """

    parts: list[Part] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    doc: tuple[Chain, int] = ((), 0)
    names: list[tuple[str, Locator]] = field(default_factory=list)  # file names, made parts last (`envelope`)

    def _next_id(self) -> str:
        return f"p{len(self.parts)}"

    @contextmanager
    def document(self, steps: Chain, root: int) -> Iterator[None]:
        """While walking a JSON document reached by `steps` whose paths start with `root` outer elements."""
        saved = self.doc
        self.doc = (steps, root)
        try:
            yield
        finally:
            self.doc = saved

    def json_steps(self, path: JsonPath) -> Chain:
        """The chain to the string at display path `path` of the current JSON document."""
        steps, root = self.doc
        return (*steps, Json(*path[root:]))

    def _filled(self, locator: Locator) -> Locator:
        # A locator an adapter built by hand for a JSON string (Anthropic `source.data`, the claude.ai prompt)
        # gets its chain from the current document; every other place is given its chain by the code that found it.
        if locator.steps or locator.encoding != "utf8":
            return locator
        if locator.container in ("json", "websocket") or (locator.container == "form" and self.doc[0]):
            return replace(locator, steps=self.json_steps(locator.path))
        return locator

    def text(self, text: str, locator: Locator) -> None:
        """A text part. Whitespace-only strings are not parts (nothing to detect); rewriting addresses parts by
        their chain, so such strings simply stay as they were sent."""
        if text and text.strip():
            self.parts.append(Part(id=self._next_id(), kind=PartKind.TEXT, locator=self._filled(locator), text=text))

    def name(self, name: str, locator: Locator, *, last: bool = True) -> None:
        """A file's name as a text part with role "filename" (file names name patients: "Okafor_Margaret_CT.dcm").
        Its text is the name as words (`NameWords`: "Okafor Margaret CT", the extension kept aside) and its chain
        writes a new name back in the same style. `last`: the part is made after every other part of the
        envelope, so adding names shifts no other part's id; names that were always parts (a JSON `filename`)
        keep their place."""
        locator = self._filled(locator)
        words = NameWords.of(name)
        text = str(read(name, words))
        if locator.steps:
            locator = replace(locator, steps=(*locator.steps, *words))
        if last:
            self.names.append((text, locator))
        elif text.strip():
            self.parts.append(Part(self._next_id(), PartKind.TEXT, locator, text=text, role="filename"))

    def file(
        self,
        data: bytes,
        locator: Locator,
        *,
        declared_type: str | None = None,
        filename: str | None = None,
    ) -> None:
        media = sniff.sniff(data)
        locator = self._filled(locator)
        kind, text = PartKind.FILE, None
        raw_bytes: bytes | None = data
        if media == sniff.OCTET and _is_text(data):
            # A text file (txt, csv, jsonl, code) is inspected as text: PHI travels that way too. `_is_text` reads
            # only the first 4 KB; invalid UTF-8 further on marks the chain lossy (read, but not written back).
            text, lossy = utf8(data)
            if locator.steps or (locator.container == "body" and not locator.path):
                locator = replace(locator, steps=(*locator.steps, Utf8(lossy)))
            kind, raw_bytes, media = PartKind.TEXT, None, "text/plain"
        self.parts.append(
            Part(
                id=self._next_id(),
                kind=kind,
                locator=locator,
                text=text,
                data=raw_bytes,
                media_type=media,
                declared_type=declared_type,
                filename=filename,
            )
        )

    def reference(self, locator: Locator, scheme: str) -> None:
        """The request asks the service to fetch content itself (an http(s) or gs:// URL): the bytes never cross
        the proxy, so this is evidence of its own that a policy can block, warn on or allow."""
        pid = f"r{len(self.findings)}"
        self.findings.append(
            Finding(
                detector="adapter",
                entity="REMOTE_REFERENCE",
                part_id=pid,
                score=1.0,
                tag=scheme,
                explanation=locator.describe(),
            )
        )

    def envelope(self, service: str, endpoint: str, kind: EndpointKind, correlation_id: str | None = None) -> Envelope:
        names = [
            Part(f"p{len(self.parts) + i}", PartKind.TEXT, loc, text=text, role="filename")
            for i, (text, loc) in enumerate((t, loc) for t, loc in self.names if t.strip())
        ]
        return Envelope(
            service=service,
            endpoint=endpoint,
            kind=kind,
            parts=(*self.parts, *names),
            correlation_id=correlation_id,
            notes=tuple(self.notes),
            adapter_findings=tuple(self.findings),
        )


def utf8(data: bytes) -> tuple[str, bool]:
    """The bytes as text, and whether that was lossy (not valid UTF-8: read with U+FFFD, never written back)."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def _is_text(data: bytes) -> bool:
    if not data:
        return False
    sample = data[:4096]
    try:
        s = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 4:  # a multi-byte character cut at the sample edge is fine
            return False
        s = sample[: e.start].decode("utf-8")
    if not s:
        return False
    printable = sum(1 for c in s if c.isprintable() or c in "\r\n\t")
    return printable / len(s) > 0.97


# ---------------------------------------------------------------------------------------------------------------
# base64 and data URLs

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*?),", re.IGNORECASE)
_B64_CHARS = re.compile(r"^[A-Za-z0-9+/_\-\s]+={0,2}\s*$")
_MIN_B64 = 24


def decode_b64(s: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding or line breaks (google-genai sends URL-safe)."""
    compact = "".join(s.split())
    compact = compact.rstrip("=")
    if "-" in compact or "_" in compact:
        compact = compact.replace("-", "+").replace("_", "/")
    pad = (-len(compact)) % 4
    if pad == 3:
        raise ExtractionError("broken base64: impossible length")
    try:
        return base64.b64decode(compact + "=" * pad, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ExtractionError(f"broken base64 ({e})") from e


def parse_data_url(s: str) -> tuple[str, bytes] | None:
    """Return (declared mime, bytes) for a data: URL, None if `s` is not one. Broken base64 raises."""
    m = _DATA_URL.match(s[:256])
    if not m:
        return None
    payload = s[m.end() :]
    if ";base64" in m.group("params").lower():
        return m.group("mime") or "", decode_b64(payload)
    from urllib.parse import unquote_to_bytes

    return m.group("mime") or "", unquote_to_bytes(payload)


def maybe_base64_file(s: str) -> bytes | None:
    """If `s` looks like bare base64 of a real file (sniffed) or of UTF-8 text, return the bytes."""
    if len(s) < _MIN_B64 or " " in s[:200] or not _B64_CHARS.match(s[:2048]) or not _B64_CHARS.match(s[-64:]):
        return None
    head = s[:512]
    head = head[: len(head) - len(head) % 4]
    try:
        prefix = decode_b64(head)
    except ExtractionError:
        return None
    media = sniff.sniff(prefix)
    if (
        media == sniff.OCTET
        and len(prefix) >= 132
        and prefix[128:132] != b"DICM"
        and not sniff.looks_like_raw_dicom(prefix)
    ):
        # Not a known file format: still worth decoding if it is base64 of text (a pasted note as a file).
        if not _is_text(prefix):
            return None
    elif media == sniff.OCTET and not _is_text(prefix):
        return None
    try:
        return decode_b64(s)
    except ExtractionError:
        return None


# ---------------------------------------------------------------------------------------------------------------
# JSON

# Keys whose string values are protocol metadata, not user content. Everything else is inspected.
METADATA_KEYS = frozenset(
    {
        "model",
        "role",
        "type",
        "object",
        "detail",
        "format",
        "purpose",
        "mime_type",
        "mimeType",
        "media_type",
        "content_type",
        "tool_choice",
        "reasoning_effort",
        "service_tier",
        "response_format",
        "modalities",
        "voice",
        "id",
        "parent_message_id",
        "conversation_id",
        "timezone",
        "locale",
        "action",
        "stop",
        "encoding_format",
        "user",
        "previous_response_id",
        "truncation",
        "status",
        "finish_reason",
        "cache_control",
        "effort",
        "file_id",
        "fileId",
        "upload_id",
        "websocket_request_id",
        "event_id",
        "session_id",
    }
)

URL_KEYS = frozenset({"url", "image_url", "file_url", "fileUri", "file_uri", "uri", "document_url"})

# Keys whose string is a file's name (OpenAI `file.filename` and Uploads `filename`, ChatGPT `file_name`, Grok
# `fileName`); `displayName` only on a Gemini `file` object (elsewhere it names a cache or a model).
FILENAME_KEYS = frozenset({"filename", "file_name", "fileName"})
_DISPLAY_NAME_KEYS = frozenset({"displayName", "display_name"})


def is_filename_key(path: JsonPath, key: str | None) -> bool:
    return key in FILENAME_KEYS or (key in _DISPLAY_NAME_KEYS and len(path) >= 2 and path[-2] == "file")


def try_json(body: bytes) -> Any | None:
    """The parsed document when a body of unknown shape is JSON (sniffed, whatever its Content-Type), else None."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def load_json(body: bytes, what: str = "request body") -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        pos = getattr(e, "pos", None)
        where = f" at byte {pos}" if pos is not None else ""
        raise ExtractionError(f"{what} is not valid JSON{where}") from e


# A dict hook gets (dict, its path) and returns True when it took the whole dict apart itself.
DictHook = Callable[[dict[str, Any], JsonPath], bool]
# A strictness predicate gets (path, key) of a string and says whether it must be valid base64.
StrictFn = Callable[[JsonPath, str | None], bool]


def walk_json(
    value: Any,
    collector: PartCollector,
    *,
    path: JsonPath = (),
    container: str = "json",
    skip_keys: frozenset[str] = METADATA_KEYS,
    strict_b64_keys: frozenset[str] = frozenset(),
    strict: StrictFn | None = None,
    hook: DictHook | None = None,
    skip_paths: frozenset[JsonPath] = frozenset(),
) -> None:
    """Turn every user-content string in a JSON document into a Part: the one JSON walker every adapter uses.

    Data URLs and bare base64 that decode to a file become file parts; http(s)/gs URLs under URL-ish keys become
    REMOTE_REFERENCE evidence; other strings become text parts. Strings under `strict_b64_keys` (or for which
    `strict(path, key)` is true) must hold valid base64: a broken value there raises ExtractionError instead of
    being read as text. Every dict is first offered to `hook` (an adapter taking apart a shape it knows, such as
    Gemini `inlineData`); `skip_paths` were already extracted by the adapter and are not visited again.
    """
    stack: list[tuple[JsonPath, Any, str | None]] = [(path, value, None)]
    while stack:
        p, v, key = stack.pop()
        if skip_paths and p in skip_paths:
            continue
        if isinstance(v, dict):
            if hook is not None and hook(v, p):
                continue
            for k in reversed(list(v)):
                if k in skip_keys and not isinstance(v[k], (dict, list)):
                    continue
                stack.append((p + (k,), v[k], k))
        elif isinstance(v, list):
            for i in range(len(v) - 1, -1, -1):
                stack.append((p + (i,), v[i], key))
        elif isinstance(v, str):
            is_strict = key in strict_b64_keys or (strict is not None and strict(p, key))
            _classify_string(v, p, key, collector, container, frozenset({key}) if is_strict and key else frozenset())


def data_url_steps(s: str) -> Chain:
    """The steps from a data URL to its bytes: the header kept, then base64 (in its own style) or percent."""
    m = _DATA_URL.match(s[:256])
    if m and ";base64" in m.group("params").lower():
        return (DataUrl(), Base64.like(s[m.end() :]))
    return (DataUrl(), Percent())


def _classify_string(
    s: str,
    p: JsonPath,
    key: str | None,
    collector: PartCollector,
    container: str,
    strict: frozenset[str],
    steps: Chain | None = None,
) -> None:
    """`steps` is the chain to the string `s` itself; by default, the current JSON document's path `p`."""
    loc_c: Any = container
    here = collector.json_steps(p) if steps is None else steps
    if s.startswith("data:") or s.startswith("DATA:"):
        try:
            parsed = parse_data_url(s)
        except ExtractionError as e:
            # The path's keys can be the user's own words (a key named after a patient): safe_path digests them.
            raise ExtractionError(f"{e} in a data URL at {safe_path(p, container)}") from None
        if parsed is not None:
            mime, data = parsed
            loc = Locator(loc_c, p, "data-url", (*here, *data_url_steps(s)))
            collector.file(data, loc, declared_type=mime or None)
            return
    low = s[:16].lower()
    if key in URL_KEYS or low.startswith(("http://", "https://", "gs://", "s3://")):
        scheme = low.split(":", 1)[0]
        if scheme in ("http", "https", "gs", "s3") and "://" in s[:16] and " " not in s.strip():
            collector.reference(Locator(loc_c, p, "utf8"), scheme)
            return
    if key in strict:
        try:
            data = decode_b64(s)
        except ExtractionError as e:
            raise ExtractionError(f"{e} at {safe_path(p, container)}") from None
        collector.file(data, Locator(loc_c, p, "base64", (*here, Base64.like(s))))
        return
    decoded = maybe_base64_file(s)
    if decoded is not None:
        collector.file(decoded, Locator(loc_c, p, "base64", (*here, Base64.like(s))))
        return
    if is_filename_key(p, key):
        collector.name(s, Locator(loc_c, p, "utf8", here), last=False)
        return
    collector.text(s, Locator(loc_c, p, "utf8", here))


# ---------------------------------------------------------------------------------------------------------------
# multipart/form-data (a real parser: naive splitting corrupts binaries ending in CR or LF)


@dataclass(frozen=True, slots=True)
class MultipartField:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes
    raw_headers: bytes = b""  # the part's header block as sent (kept for write-back and audit of shapes)
    step: Multipart | None = None  # the part's place: `Multipart(index, boundary)`


_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


def multipart_boundary(content_type: str) -> str | None:
    m = _BOUNDARY.search(content_type)
    return (m.group(1) or m.group(2)) if m else None


# A body that is multipart by its own bytes: a delimiter line (RFC 2046 boundary characters) followed at once by a
# part header. Browsers and SDKs never send a preamble, so this is where the first delimiter sits.
_BODY_BOUNDARY = re.compile(rb"(?:\r?\n)?--([0-9A-Za-z'()+_,\-./:=?]{1,70})\r?\n(?i:content-(?:disposition|type)):")


def body_boundary(body: bytes) -> str | None:
    """The boundary of a body that is multipart/form-data by its bytes, whatever its Content-Type says (or when the
    header's boundary parameter was lost): uploads must never be judged as one opaque blob, in which a DICOM's
    magic is not at byte 128 and a PNG's is not at byte 0."""
    m = _BODY_BOUNDARY.match(body[:320])
    return m.group(1).decode("ascii") if m else None


def parse_multipart(body: bytes, content_type: str) -> list[MultipartField]:
    """Every part of a multipart body, in order. The part's raw header block is kept (`raw_headers`) and its place
    is the `Multipart(index, boundary)` step: a rewrite splices the new bytes between the same headers."""
    boundary = multipart_boundary(content_type)
    if not boundary:
        raise ExtractionError("multipart body has no boundary in its Content-Type")
    try:
        spans = multipart_spans(body, boundary)
    except ValueError as e:
        raise ExtractionError(str(e)) from None
    fields: list[MultipartField] = []
    for i, (start, data_start, end) in enumerate(spans):
        raw = body[start : data_start - 4]
        headers = _part_headers(raw)
        disp = headers.get("content-disposition", "")
        name = _disp_param(disp, "name") or ""
        filename = _disp_param(disp, "filename")
        fields.append(
            MultipartField(
                name, filename, headers.get("content-type"), body[data_start:end], raw, Multipart(i, boundary)
            )
        )
    return fields


def _part_headers(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def _disp_param(disp: str, param: str) -> str | None:
    m = re.search(rf'(?:^|;)\s*{param}\*?=(?:"((?:[^"\\]|\\.)*)"|([^;]*))', disp, re.IGNORECASE)
    if not m:
        return None
    return (m.group(1) if m.group(1) is not None else m.group(2)).strip()


def collect_multipart(body: bytes, content_type: str, collector: PartCollector) -> list[MultipartField]:
    """Every file field becomes a file part (sniffed); every text field a text part."""
    fields = parse_multipart(body, content_type)
    for i, f in enumerate(fields):
        loc = multipart_locator(f, i)
        if f.filename is not None or not _is_text(f.data):
            collector.file(f.data, loc, declared_type=f.content_type, filename=f.filename)
            multipart_name(f, i, collector)
        else:
            multipart_text(f, loc, collector)
    return fields


_NO_RENAME = "phiwall cannot rename this file in the upload; rename it (without the patient's name) and send it again"


def multipart_name(f: MultipartField, i: int, collector: PartCollector, *, prefix: Chain = ()) -> None:
    """A file field's name (its Content-Disposition `filename`) as a text part, `multipart:<name>.<i>.filename`,
    reached by `MultipartFilename(i, b)`; made after every other part (see `PartCollector.name`)."""
    if not f.filename:
        return
    loc = Locator("multipart", (f.name, i, "filename"), "utf8")
    name = MultipartFilename.name_in(f.raw_headers) if f.step is not None else None
    if f.step is not None and name is not None:
        loc = replace(loc, steps=(*prefix, MultipartFilename(f.step.index, f.step.boundary)))
    else:  # only an RFC 5987 `filename*`, or no recorded place: read, but renamed only by the person
        loc = replace(loc, steps=(NotRewritable(_NO_RENAME),))
        name = f.filename
    collector.name(name, loc)


def multipart_locator(f: MultipartField, i: int, *, prefix: Chain = ()) -> Locator:
    """The locator of multipart field `f` (the `i`-th part): `multipart:<name>.<i>`, chain `Multipart(i, b)`."""
    return Locator("multipart", (f.name, i), "raw", (*prefix, f.step) if f.step is not None else ())


def multipart_text(f: MultipartField, loc: Locator, collector: PartCollector) -> None:
    """A text field as a text part, its chain ending in `Utf8` (lossy when the bytes are not valid UTF-8)."""
    text, lossy = utf8(f.data)
    steps = (*loc.steps, Utf8(lossy)) if loc.steps else ()
    collector.text(text, replace(loc, steps=steps))


def iter_form(body: bytes) -> Iterator[tuple[str, str]]:
    from urllib.parse import parse_qsl

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ExtractionError("form body is not UTF-8") from e
    yield from parse_qsl(text, keep_blank_values=True)


# ---------------------------------------------------------------------------------------------------------------
# anything


def collect_any(body: bytes, content_type: str, collector: PartCollector, *, container: str = "body") -> str:
    """Generic extraction for a body of unknown shape: returns which shape it was ("json", "multipart", ...).

    `content_type` is the request's Content-Type header, parameters included (a bare media type works too). The
    shape is sniffed from the body first and the header only helps: a multipart body is parsed by its own first
    delimiter even when the header is missing, lies, or has lost its boundary parameter."""
    if not body:
        return "empty"
    full_type = content_type
    content_type = content_type.split(";", 1)[0].strip().lower()
    media = sniff.sniff(body)
    if media != sniff.OCTET:
        collector.file(body, Locator("body", (), "raw"), declared_type=content_type or None)
        return "file"
    declared = multipart_boundary(full_type) if content_type.startswith("multipart/") else None
    # The declared boundary wins when the body carries it; a declared one the body lacks is still used when the
    # bytes show none, so the parser refuses the body (on_error) instead of it being judged as an opaque blob.
    if declared and f"--{declared}".encode("latin-1") in body[:4096]:
        boundary: str | None = declared
    else:
        boundary = body_boundary(body) or declared
    if boundary:
        collect_multipart(body, f'multipart/form-data; boundary="{boundary}"', collector)
        return "multipart"
    doc = try_json(body)
    if doc is not None:
        walk_json(doc, collector, container=container)
        return "json"
    if content_type == "application/x-www-form-urlencoded" and _is_text(body):
        for i, (k, v) in enumerate(iter_form(body)):
            sub = v.lstrip()[:1]
            if sub in ("[", "{"):
                try:
                    doc = json.loads(v)
                except json.JSONDecodeError:
                    doc = None
                if doc is not None:
                    with collector.document((Form(k, i),), 2):
                        walk_json(doc, collector, path=(k, i), container="form")
                    continue
            _classify_string(v, (k, i), k, collector, "form", frozenset(), steps=(Form(k, i),))
        return "form"
    if _is_text(body):
        text, lossy = utf8(body)
        collector.text(text, Locator("body", (), "utf8", (Utf8(lossy),)))
        return "text"
    collector.file(body, Locator("body", (), "raw"), declared_type=content_type or None)
    return "binary"
