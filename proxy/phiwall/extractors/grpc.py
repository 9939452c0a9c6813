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
from typing import ClassVar

from phiwall import sniff
from phiwall.encoding import decode_body
from phiwall.errors import ExtractionError
from phiwall.errors import LimitError
from phiwall.extractors import route
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import parse_data_url
from phiwall.extractors.table import named
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

Field = tuple[int, int, int | bytes]  # (field number, wire type, value)


def grpc_frames(body: bytes, encoding: str = "") -> list[bytes]:
    """Split a gRPC body into its messages, decompressing those flagged as compressed."""
    out = []
    pos = 0
    budget = MAX_MESSAGE  # decoded bytes for all the body's messages together, not per message
    while pos < len(body):
        if len(body) - pos < 5:
            raise ExtractionError(f"gRPC body is truncated (a frame header at byte {pos} is incomplete)")
        flag = body[pos]
        (length,) = struct.unpack_from(">I", body, pos + 1)
        if flag not in (0, 1):
            raise ExtractionError(f"gRPC frame at byte {pos} has an unknown flag {flag}")
        if length > MAX_MESSAGE:
            raise LimitError(f"gRPC message of {length} bytes is over phiwall's {MAX_MESSAGE}-byte limit")
        data = body[pos + 5 : pos + 5 + length]
        if len(data) != length:
            raise ExtractionError(f"gRPC message at byte {pos} is truncated")
        if flag == 1:
            # One bounded streaming reader for every compressed body (phiwall.encoding); a shared budget, so many
            # small compressed frames cannot add up to gigabytes.
            data = decode_body(data, encoding or "gzip", budget, what="gRPC message", header="grpc-encoding")
            budget -= len(data)
        out.append(data)
        pos += 5 + length
    return out


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


def parse_message(buf: bytes) -> list[Field]:
    """Decode one protobuf message into raw fields; ValueError when the bytes are not a well-formed message."""
    fields: list[Field] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError("field number 0")
        if wt == 0:
            v, pos = _varint(buf, pos)
            fields.append((num, wt, v))
        elif wt == 1:
            if pos + 8 > len(buf):
                raise ValueError("truncated fixed64")
            fields.append((num, wt, buf[pos : pos + 8]))
            pos += 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated length-delimited field")
            fields.append((num, wt, buf[pos : pos + n]))
            pos += n
        elif wt == 5:
            if pos + 4 > len(buf):
                raise ValueError("truncated fixed32")
            fields.append((num, wt, buf[pos : pos + 4]))
            pos += 4
        else:  # groups (3, 4) are obsolete and never sent by these SDKs
            raise ValueError(f"wire type {wt}")
    return fields


def _printable_text(data: bytes) -> str | None:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(ch.isprintable() or ch in "\r\n\t" for ch in s):
        return s
    return None


def walk_message(buf: bytes, c: PartCollector, path: tuple[str | int, ...] = (), depth: int = 0) -> None:
    """Turn every length-delimited field of a protobuf message into parts (see module docstring for the order)."""
    if depth > MAX_DEPTH:
        raise ExtractionError("protobuf nesting is deeper than phiwall follows")
    try:
        fields = parse_message(buf)
    except ValueError as e:
        raise ExtractionError(f"gRPC message is not valid protobuf ({e})") from None
    for i, (num, wt, v) in enumerate(fields):
        if wt != 2 or not isinstance(v, bytes) or not v:
            continue
        walk_bytes(v, c, path + (f"{num}#{i}",), depth)


def walk_bytes(v: bytes, c: PartCollector, path: tuple[str | int, ...], depth: int) -> None:
    loc = path
    if sniff.sniff(v) != sniff.OCTET:
        c.file(v, Locator("grpc", loc, "raw"))
        return
    text = _printable_text(v)
    if text is not None:
        if text.startswith(("data:", "DATA:")):
            parsed = parse_data_url(text)
            if parsed is not None:
                c.file(parsed[1], Locator("grpc", loc, "data-url"), declared_type=parsed[0] or None)
                return
        low = text[:16].lower()
        if low.startswith(("http://", "https://", "gs://", "s3://")) and " " not in text.strip():
            c.reference(Locator("grpc", loc, "utf8"), low.split(":", 1)[0])
            return
        c.text(text, Locator("grpc", loc, "utf8"))
        return
    try:
        parse_message(v)
    except ValueError:
        # Opaque bytes (a raw file chunk in an unknown format, a text file cut mid-character): a file part, so
        # the file detectors and the text-file fallback still see it.
        c.file(v, Locator("grpc", loc, "raw"))
        return
    walk_message(v, c, loc, depth + 1)


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
            frames = grpc_frames(body, req.header("grpc-encoding"))
            if req.path_only == "/xai_api.Files/UploadFile":
                _upload_file(frames, c)
            else:
                for n, frame in enumerate(frames):
                    walk_message(frame, c, (n,))
        return c.envelope(name, endpoint, kind)


def _upload_file(frames: list[bytes], c: PartCollector) -> None:
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
                walk_bytes(v, c, (n, f"{num}#{i}"), 0)
    if chunks:
        c.file(b"".join(chunks), Locator("grpc", ("data",), "raw"))


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
