"""gRPC requests (`application/grpc[+proto]` over HTTP/2): the xAI SDK's native API on api.x.ai, and any other
guarded host that speaks it (the legacy Gemini SDK). Shapes: ../shared/spec/request-shapes.md §4.1 and §7.2.

JSON inspectors see nothing in gRPC, so the body is decoded here without the services' .proto files: a stream of
length-prefixed messages (1 flag byte, 4 bytes big-endian length; flag 1 = compressed with `grpc-encoding`), each a
protobuf walked generically. Every length-delimited field becomes, in this order of preference, a file (its bytes
sniff as a known format), text (printable UTF-8; data URLs decode to files), a nested message (parses cleanly), or
opaque bytes inspected as a file. Descriptor-free decoding keeps working when xAI adds fields; the one place that
needs the schema is `xai_api.Files/UploadFile`, a client stream whose `data` chunks (field 2) are one file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import ClassVar

from phiwall import sniff
from phiwall.encoding import decode_body
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.extractors import route
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import data_url_steps
from phiwall.extractors.base import parse_data_url
from phiwall.extractors.table import named
from phiwall.locators import RewriteError
from phiwall.locators import Step
from phiwall.locators import Utf8
from phiwall.locators import Value
from phiwall.locators import apply
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Locator
from phiwall.request import RequestData

MAX_DEPTH = 32
MAX_MESSAGE = 64 * 1024 * 1024  # xai-sdk caps messages at 20 MiB; beyond this the frame is not plausible

# (rpc path, endpoint name, kind). Unknown methods are still walked generically.
METHODS: dict[str, tuple[str, EndpointKind]] = {
    "/xai_api.Chat/GetCompletion": ("chat.get_completion", EndpointKind.CHAT),
    "/xai_api.Chat/GetCompletionChunk": ("chat.get_completion_chunk", EndpointKind.CHAT),
    "/xai_api.Chat/StartDeferredCompletion": ("chat.start_deferred", EndpointKind.CHAT),
    "/xai_api.Files/UploadFile": ("files.upload", EndpointKind.UPLOAD),
    "/xai_api.Image/GenerateImage": ("image.generate", EndpointKind.CHAT),
    "/xai_api.Tokenize/TokenizeText": ("tokenize", EndpointKind.OTHER),
    "/xai_api.Embedder/Embed": ("embed", EndpointKind.OTHER),
}

RawField = tuple[int, int, int | bytes]  # (field number, wire type, value)


def grpc_frames(body: bytes, encoding: str = "") -> list[bytes]:
    """Split a gRPC body into its messages, decompressing those flagged as compressed."""
    out = []
    budget = MAX_MESSAGE  # decoded bytes for all the body's messages together, not per message
    for flag, start, end in frame_spans(body):
        data = body[start:end]
        if flag == 1:
            # One bounded streaming reader for every compressed body (phiwall.encoding); a shared budget, so many
            # small compressed frames cannot add up to gigabytes.
            data = decode_body(data, encoding or "gzip", budget, what="gRPC message", header="grpc-encoding")
            budget -= len(data)
        out.append(data)
    return out


def frame_spans(body: bytes) -> list[tuple[int, int, int]]:
    """(flag, message start, message end) of every length-prefixed message of a gRPC body."""
    out = []
    pos = 0
    while pos < len(body):
        if len(body) - pos < 5:
            raise ExtractionError(f"gRPC body is truncated (a frame header at byte {pos} is incomplete)")
        flag = body[pos]
        (length,) = struct.unpack_from(">I", body, pos + 1)
        if flag not in (0, 1):
            raise ExtractionError(f"gRPC frame at byte {pos} has an unknown flag {flag}")
        if length > MAX_MESSAGE:
            raise LimitError(f"gRPC message of {length} bytes is over phiwall's {MAX_MESSAGE}-byte limit")
        if pos + 5 + length > len(body):
            raise ExtractionError(f"gRPC message at byte {pos} is truncated")
        out.append((flag, pos + 5, pos + 5 + length))
        pos += 5 + length
    return out


def _compress(data: bytes, encoding: str) -> bytes:
    """The inverse of the message decoding: gzip stays gzip, deflate stays deflate (zlib-wrapped, as gRPC and
    `phiwall.encoding` read it)."""
    enc = (encoding or "gzip").strip().lower()
    if enc == "deflate":
        return zlib.compress(data)
    if enc in ("gzip", "x-gzip"):
        co = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
        return co.compress(data) + co.flush()
    raise RewriteError("not_rewritable", f"phiwall cannot re-compress a gRPC message with grpc-encoding '{enc}'")


def _decompress(data: bytes, encoding: str) -> bytes:
    return decode_body(data, encoding or "gzip", MAX_MESSAGE, what="gRPC message", header="grpc-encoding")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def parse_message(buf: bytes) -> list[RawField]:
    """Decode one protobuf message into raw fields; ValueError when the bytes are not a well-formed message."""
    return [(num, wt, v) for num, wt, v, _, _ in field_spans(buf)]


def field_spans(buf: bytes) -> list[tuple[int, int, int | bytes, int, int]]:
    """(number, wire type, value, start after the key, value end) of every field; for wire type 2 the value is
    buf[end - len(value):end], preceded by its varint length that starts right after the key."""
    fields: list[tuple[int, int, int | bytes, int, int]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        start = pos
        if num == 0:
            raise ValueError("field number 0")
        if wt == 0:
            v, pos = _varint(buf, pos)
            fields.append((num, wt, v, start, pos))
        elif wt == 1:
            if pos + 8 > len(buf):
                raise ValueError("truncated fixed64")
            pos += 8
            fields.append((num, wt, buf[start:pos], start, pos))
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated length-delimited field")
            fields.append((num, wt, buf[pos : pos + n], start, pos + n))
            pos += n
        elif wt == 5:
            if pos + 4 > len(buf):
                raise ValueError("truncated fixed32")
            pos += 4
            fields.append((num, wt, buf[start:pos], start, pos))
        else:  # groups (3, 4) are obsolete and never sent by these SDKs
            raise ValueError(f"wire type {wt}")
    return fields


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _as_bytes(v: Value) -> bytes:
    return v if isinstance(v, bytes) else v.encode("utf-8")


@dataclass(frozen=True, slots=True)
class GrpcFrame(Step):
    """The `index`-th length-prefixed message of a gRPC body, decompressed when its flag says so (and compressed
    again with the same `grpc-encoding` when written)."""

    index: int
    encoding: str = ""

    def _span(self, body: bytes) -> tuple[int, int, int]:
        try:
            spans = frame_spans(body)
        except (ExtractionError, LimitError):
            raise RewriteError("stale", "the gRPC body no longer has the recorded frames") from None
        if self.index >= len(spans):
            raise RewriteError("stale", "the gRPC body no longer has the recorded frames")
        return spans[self.index]

    def read(self, outer: Value) -> Value:
        body = _as_bytes(outer)
        flag, a, b = self._span(body)
        return _decompress(body[a:b], self.encoding) if flag == 1 else body[a:b]

    def write(self, outer: Value, inner: Value) -> Value:
        body, data = _as_bytes(outer), _as_bytes(inner)
        flag, a, b = self._span(body)
        if flag == 1:
            data = _compress(data, self.encoding)
        if len(data) > MAX_MESSAGE:
            raise RewriteError("not_rewritable", "the rewritten gRPC message is over phiwall's message size limit")
        return body[: a - 5] + bytes([flag]) + struct.pack(">I", len(data)) + data + body[b:]


@dataclass(frozen=True, slots=True)
class Field(Step):
    """The `index`-th field of a protobuf message, a length-delimited field numbered `number`; written back with
    its length re-encoded, every other field byte-identical."""

    index: int
    number: int

    def _span(self, buf: bytes) -> tuple[int, int, int]:
        try:
            fields = field_spans(buf)
        except ValueError:
            raise RewriteError("stale", "the protobuf message no longer parses") from None
        if self.index >= len(fields) or fields[self.index][:2] != (self.number, 2):
            raise RewriteError("stale", "the protobuf message no longer has the recorded field")
        _, _, v, start, end = fields[self.index]
        assert isinstance(v, bytes)
        return start, end - len(v), end

    def read(self, outer: Value) -> Value:
        buf = _as_bytes(outer)
        _, a, b = self._span(buf)
        return buf[a:b]

    def write(self, outer: Value, inner: Value) -> Value:
        buf, data = _as_bytes(outer), _as_bytes(inner)
        start, _, b = self._span(buf)
        return buf[:start] + _varint_bytes(len(data)) + data + buf[b:]


@dataclass(frozen=True, slots=True)
class GrpcChunks(Step):
    """xAI `Files/UploadFile`: the file is field `number` of every frame, joined. Written back into the same
    chunk sizes (the last chunk takes what is left; chunks past the end of a shorter file become empty)."""

    number: int
    encoding: str = ""

    def _places(self, body: bytes) -> list[tuple[GrpcFrame, Field, int]]:
        out = []
        try:
            frames = grpc_frames(body, self.encoding)
        except (ExtractionError, LimitError):
            raise RewriteError("stale", "the gRPC body no longer has the recorded frames") from None
        for n, frame in enumerate(frames):
            try:
                fields = parse_message(frame)
            except ValueError:
                raise RewriteError("stale", "an UploadFile message no longer parses") from None
            for i, (num, wt, v) in enumerate(fields):
                if num == self.number and wt == 2 and isinstance(v, bytes):
                    out.append((GrpcFrame(n, self.encoding), Field(i, num), len(v)))
        return out

    def read(self, outer: Value) -> Value:
        body = _as_bytes(outer)
        return b"".join(_as_bytes(f.read(g.read(body))) for g, f, _ in self._places(body))

    def write(self, outer: Value, inner: Value) -> Value:
        body, data = _as_bytes(outer), _as_bytes(inner)
        places = self._places(body)
        if not places:
            raise RewriteError("stale", "the UploadFile stream no longer carries data chunks")
        edits: list[tuple[tuple[Step, ...], Value]] = []
        pos = 0
        for k, (g, f, size) in enumerate(places):
            chunk = data[pos:] if k == len(places) - 1 else data[pos : pos + size]
            pos += len(chunk)
            edits.append(((g, f), chunk))
        return apply(body, edits)


def _is_message(data: bytes) -> bool:
    try:
        return bool(parse_message(data))
    except ValueError:
        return False


def _printable_text(data: bytes) -> str | None:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(ch.isprintable() or ch in "\r\n\t" for ch in s):
        return s
    return None


def walk_message(
    buf: bytes, c: PartCollector, path: tuple[str | int, ...] = (), depth: int = 0, steps: tuple[Step, ...] = ()
) -> None:
    """Turn every length-delimited field of a protobuf message into parts (see module docstring for the order).
    `steps` is the chain from the body to `buf` (`GrpcFrame(n)`, then a `Field` per nesting level)."""
    if depth > MAX_DEPTH:
        raise ExtractionError("protobuf nesting is deeper than phiwall follows")
    try:
        fields = parse_message(buf)
    except ValueError as e:
        raise ExtractionError(f"gRPC message is not valid protobuf ({e})") from None
    for i, (num, wt, v) in enumerate(fields):
        if wt != 2 or not isinstance(v, bytes) or not v:
            continue
        walk_bytes(v, c, path + (f"{num}#{i}",), depth, (*steps, Field(i, num)))


def walk_bytes(v: bytes, c: PartCollector, path: tuple[str | int, ...], depth: int, steps: tuple[Step, ...]) -> None:
    loc = path
    media = sniff.sniff(v)
    if media != sniff.OCTET and not (media == sniff.DICOM and v[128:132] != b"DICM" and _is_message(v)):
        # A DICOM whose "DICM" is not at 128 may be a message that holds one (FileContent{data, filename}: the
        # magic sits a few key and length bytes further on): walk the message, so the DICOM part is the file itself
        # and a rewrite replaces the file, not the message around it.
        c.file(v, Locator("grpc", loc, "raw", steps))
        return
    text = _printable_text(v)
    if text is not None and text[:1] in "\t\n\r" and _is_message(v):
        # A nested message whose key and length bytes happen to be printable ("\n4..." is field 1, 52 bytes long):
        # read as the message it is, so a rewritten request (a longer text changes the length byte) is read back
        # the way the original was. Text starting with a control character that also parses as protobuf is rare.
        text = None
    if text is not None:
        if text.startswith(("data:", "DATA:")):
            parsed = parse_data_url(text)
            if parsed is not None:
                chain = (*steps, Utf8(), *data_url_steps(text))
                c.file(parsed[1], Locator("grpc", loc, "data-url", chain), declared_type=parsed[0] or None)
                return
        low = text[:16].lower()
        if low.startswith(("http://", "https://", "gs://", "s3://")) and " " not in text.strip():
            c.reference(Locator("grpc", loc, "utf8"), low.split(":", 1)[0])
            return
        c.text(text, Locator("grpc", loc, "utf8", (*steps, Utf8())))
        return
    try:
        parse_message(v)
    except ValueError:
        # Opaque bytes (a raw file chunk in an unknown format, a text file cut mid-character): a file part, so
        # the file detectors and the text-file fallback still see it.
        c.file(v, Locator("grpc", loc, "raw", steps))
        return
    walk_message(v, c, loc, depth + 1, steps)


class GrpcAdapter(Rewriting):
    """Any gRPC request on a guarded host, decoded without descriptors."""

    service: ClassVar[str] = "grpc"

    def __init__(self, service: str = "grpc") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        host_service = route(req.host)
        name = host_service.name if host_service else self.service_name
        endpoint, kind = METHODS.get(
            req.path_only, ("grpc:" + req.path_only.rsplit("/", 1)[-1][:64], EndpointKind.OTHER)
        )
        c = PartCollector()
        with named(endpoint):
            encoding = req.header("grpc-encoding")
            frames = grpc_frames(body, encoding)
            if req.path_only == "/xai_api.Files/UploadFile":
                _upload_file(frames, c, encoding)
            else:
                for n, frame in enumerate(frames):
                    walk_message(frame, c, (n,), 0, (GrpcFrame(n, encoding),))
        return c.envelope(name, endpoint, kind)


def _upload_file(frames: list[bytes], c: PartCollector, encoding: str = "") -> None:
    """xai_api.Files/UploadFile: `init`=1 (name, expiry: walked as text), `data`=2 chunks joined into one file."""
    chunks: list[bytes] = []
    for n, frame in enumerate(frames):
        try:
            fields = parse_message(frame)
        except ValueError as e:
            raise ExtractionError(f"UploadFile message {n} is not valid protobuf ({e})") from None
        for i, (num, wt, v) in enumerate(fields):
            if num == 2 and wt == 2 and isinstance(v, bytes):
                chunks.append(v)
            elif wt == 2 and isinstance(v, bytes) and v:
                walk_bytes(v, c, (n, f"{num}#{i}"), 0, (GrpcFrame(n, encoding), Field(i, num)))
    if chunks:
        c.file(b"".join(chunks), Locator("grpc", ("data",), "raw", (GrpcChunks(2, encoding),)))


class XaiAdapter(Rewriting):
    """api.x.ai: gRPC from the native SDK, OpenAI-compatible REST otherwise (same host, told apart by type)."""

    service: ClassVar[str] = "xai_api"

    def __init__(self, service: str = "xai_api") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        if req.content_type.startswith("application/grpc"):
            return GrpcAdapter(self.service_name).extract(req, body)
        from phiwall.extractors.openai_api import OpenAIAdapter

        return OpenAIAdapter(self.service_name).extract(req, body)
