"""OpenAI API (api.openai.com, regional, mTLS and Azure OpenAI hosts; also the OpenAI-compatible shapes of xAI
and Gemini): chat completions, responses, conversations, files (with batch JSONL), uploads parts, images,
audio, assistants/threads, moderation.

Shapes: /work/shared/spec/request-shapes.md §1. Every request resends the whole history, so every message is
inspected, not only the last one. Known base64 fields must decode; a broken one is an error, not text.
`file_id` references (assistants `image_file`, `input_file`, attachments) are recorded as `file_ref:` notes: the
bytes crossed (or should have crossed) the proxy at upload time.
"""

from __future__ import annotations

import json
import re
from typing import Any
from typing import ClassVar

from phiwall import sniff
from phiwall.errors import ExtractionError
from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import JsonPath
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import _is_text
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import load_json
from phiwall.extractors.base import multipart_locator
from phiwall.extractors.base import multipart_name
from phiwall.extractors.base import multipart_text
from phiwall.extractors.base import parse_multipart
from phiwall.extractors.base import walk_json
from phiwall.extractors.table import Endpoint
from phiwall.extractors.table import dotted
from phiwall.extractors.table import file_ref
from phiwall.extractors.table import match
from phiwall.extractors.table import named
from phiwall.extractors.table import need
from phiwall.extractors.table import table
from phiwall.locators import Chain
from phiwall.locators import Jsonl
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Locator
from phiwall.request import RequestData

# Fields that carry base64 in the OpenAI shapes (input_audio.data, file.file_data).
STRICT_B64 = frozenset({"data", "file_data"})
_SKIP = METADATA_KEYS | {"api-version", "tools", "metadata", "encrypted_content", "signature"}

CH, UP, OT = EndpointKind.CHAT, EndpointKind.UPLOAD, EndpointKind.OTHER

# Paths may carry an Azure prefix (/openai/deployments/{d}/…, /openai/v1/…, /openai/…), xAI/OpenAI /v1, or the
# Gemini OpenAI-compatible /v1beta/openai prefix.
PREFIX = r"(?:/openai/deployments/[^/]+|/openai/v1|/openai|/v1beta/openai|/v1)"
_ID = r"[^/]+"
ENDPOINTS: tuple[Endpoint, ...] = table(
    [
        ("chat.completions", CH, "POST", r"/chat/completions/?"),
        ("responses.input_tokens", CH, "POST", r"/responses/input_tokens/?"),
        ("responses.compact", CH, "POST", r"/responses/compact/?"),
        ("responses", CH, "POST", r"/responses/?"),
        ("conversations.items", CH, "POST", rf"/conversations/{_ID}/items/?"),
        ("conversations", CH, "POST", r"/conversations/?"),
        ("completions", CH, "POST", r"/completions/?"),
        ("embeddings", OT, "POST", r"/embeddings/?"),
        ("moderations", OT, "POST", r"/moderations/?"),
        ("files.create", UP, "POST", r"/files/?"),
        ("uploads.create", UP, "POST", r"/uploads/?"),
        ("uploads.parts", UP, "POST", rf"/uploads/{_ID}/parts/?"),
        ("uploads.complete", UP, "POST", rf"/uploads/{_ID}/complete/?"),
        ("uploads.cancel", OT, "POST", rf"/uploads/{_ID}/cancel/?"),
        ("images.edits", UP, "POST", r"/images/edits/?"),
        ("images.variations", UP, "POST", r"/images/variations/?"),
        ("images.generations", OT, "POST", r"/images/generations/?"),
        ("audio.transcriptions", UP, "POST", r"/audio/transcriptions/?"),
        ("audio.translations", UP, "POST", r"/audio/translations/?"),
        ("audio.speech", OT, "POST", r"/audio/speech/?"),
        ("containers.files", UP, "POST", rf"/containers/{_ID}/files/?"),
        ("videos", UP, "POST", r"/videos(?:/[^?]*)?"),
        ("skills", UP, "POST", rf"/skills(?:/{_ID}/versions)?/?"),
        ("content_provenance_checks", UP, "POST", r"/content_provenance_checks/?"),
        ("assistants", CH, "POST", rf"/assistants(?:/{_ID})?/?"),
        ("threads.messages", CH, "POST", rf"/threads/{_ID}/messages(?:/{_ID})?/?"),
        ("threads.runs.submit_tool_outputs", CH, "POST", rf"/threads/{_ID}/runs/{_ID}/submit_tool_outputs/?"),
        ("threads.runs", CH, "POST", rf"/threads(?:/{_ID})?/runs/?"),
        ("threads", CH, "POST", rf"/threads(?:/{_ID})?/?"),
        ("vector_stores", OT, "POST", r"/vector_stores(?:/[^?]*)?"),
        ("batches", OT, "POST", r"/batches/?"),
    ],
    prefix=PREFIX,
)

# Multipart endpoints whose text fields are protocol values, not user content.
_FORM_METADATA = frozenset(
    {
        "purpose",
        "model",
        "response_format",
        "size",
        "quality",
        "n",
        "background",
        "output_format",
        "language",
        "temperature",
        "timestamp_granularities[]",
        "expires_after[anchor]",
        "expires_after[seconds]",
        "input_fidelity",
        "moderation",
        "output_compression",
        "stream",
        "seconds",
        "include[]",
        "chunking_strategy",
    }
)


def classify(method: str, path: str) -> Endpoint | None:
    return match(ENDPOINTS, method, path)


def upload_id(path: str) -> str | None:
    m = re.search(r"/uploads/([^/]+)/", path)
    return m.group(1) if m else None


class OpenAIAdapter(Rewriting):
    """The OpenAI request shapes, reused by every host that speaks them (Azure, xAI REST, Gemini compat)."""

    service: ClassVar[str] = "openai_api"

    def __init__(self, service: str = "openai_api") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        ep = classify(req.method, req.path_only)
        if ep is None:
            shape = collect_any(body, req.header("content-type"), c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", EndpointKind.OTHER)
        with named(ep.name):
            extract_openai(ep.name, req, body, c)
        corr = upload_id(req.path_only) if ep.name.startswith("uploads.") else None
        return c.envelope(self.service_name, ep.name, ep.kind, correlation_id=corr)


def extract_openai(name: str, req: RequestData, body: bytes, c: PartCollector) -> None:
    """Take one OpenAI-shaped body apart into `c` (shared with the Gemini OpenAI-compatible path)."""
    if not body.strip():
        return
    if req.content_type.startswith("multipart/"):
        _multipart(name, req, body, c)
        return
    if name in ("uploads.parts",):
        raise ExtractionError(f"{name}: expected a multipart body with a 'data' field")
    doc = load_json(body, f"{name} request body")
    if name in ("chat.completions", "responses", "responses.input_tokens", "messages", "threads.messages"):
        need(isinstance(doc, dict), name, "body is not a JSON object")
    if name == "chat.completions":
        need(isinstance(doc.get("messages"), list), name, "messages is not a list")
    walk_openai(doc, c)


def walk_openai(doc: Any, c: PartCollector, path: JsonPath = (), container: str = "json") -> None:
    """Every string is inspected; base64 fields are decoded strictly; `file_id` values become file references."""

    def file_ids(v: dict[str, Any], p: JsonPath) -> bool:
        fid = v.get("file_id")
        if isinstance(fid, str):
            file_ref(c, fid, dotted(p))
        return False  # keep walking the dict: its other fields are inspected too

    def strict(p: JsonPath, key: str | None) -> bool:
        # Strict only where the schema says base64 (input_audio.data, file.file_data): a "data" key elsewhere
        # (tool arguments, metadata) may hold ordinary text.
        return key == "file_data" or (key == "data" and len(p) >= 2 and p[-2] == "input_audio")

    walk_json(doc, c, path=path, container=container, skip_keys=_SKIP, strict=strict, hook=file_ids)


def _multipart(name: str, req: RequestData, body: bytes, c: PartCollector) -> None:
    fields = parse_multipart(body, req.header("content-type"))
    purpose = next((f.data.decode("utf-8", "replace").strip() for f in fields if f.name == "purpose"), "")
    if name == "uploads.parts":
        need(any(f.name == "data" for f in fields), name, "no 'data' field")
    for i, f in enumerate(fields):
        loc = multipart_locator(f, i)
        if f.filename is None and f.name in _FORM_METADATA:
            continue
        if f.filename is None and _is_text(f.data) and f.name not in ("data", "file", "image", "image[]", "mask"):
            multipart_text(f, loc, c)
            continue
        multipart_name(f, i, c)
        if name == "files.create" and purpose == "batch" and f.name == "file":
            _batch_jsonl(f.data, c, i, loc.steps)
            continue
        c.file(f.data, loc, declared_type=f.content_type, filename=f.filename)


def _batch_jsonl(data: bytes, c: PartCollector, field_index: int, steps: Chain) -> None:
    """`purpose=batch` files are JSON Lines, one complete request per line (`{"custom_id","method","url","body"}`)
    embedding base64 images: each line's body is inspected like a direct request. A string in line n is reached
    by `Multipart(i) → Jsonl(n) → Json(...)`."""
    if sniff.sniff(data) != sniff.OCTET:
        c.file(data, Locator("multipart", ("file", field_index), "raw", steps))  # not JSONL at all: a real file
        return
    for n, line in enumerate(data.splitlines()):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ExtractionError(f"files.create: batch file line {n + 1} is not valid JSON") from None
        with c.document((*steps, Jsonl(n)), 4):
            walk_openai(row, c, path=("file", field_index, "line", n), container="multipart")
