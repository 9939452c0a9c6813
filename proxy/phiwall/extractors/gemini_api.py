"""Gemini Developer API (generativelanguage.googleapis.com) and Vertex AI (*-aiplatform.googleapis.com,
aiplatform.googleapis.com, aiplatform.{eu,us}.rep.googleapis.com).

Shapes: /work/shared/spec/request-shapes.md §3.1, §3.2, §10. Why a parser of its own:
- proto3-JSON servers accept camelCase and snake_case (`inlineData`/`inline_data`, `fileData`/`file_data`), so
  both are read;
- google-genai sends inline bytes as URL-safe base64 (§10), so `inlineData.data` is decoded with both alphabets,
  strictly: a broken value is an ExtractionError, never text;
- `fileData.fileUri` is either a Gemini File API uri (a reference to bytes that crossed the proxy at upload:
  recorded as `file_ref:`) or an external/signed/`gs://` URL the service fetches itself (REMOTE_REFERENCE);
- `thoughtSignature` is opaque model state, not user content.
Vertex `publishers/anthropic` `:rawPredict` bodies are Anthropic Messages; `/v1beta/openai/…` bodies are OpenAI.
The resumable File API upload is taken apart statelessly here (each chunk is a file part, the upload id is the
correlation id); reassembly across chunks is phiwall.uploads' job.
"""

from __future__ import annotations

import re
from typing import Any
from typing import ClassVar

from phiwall.errors import ExtractionError
from phiwall.extractors.anthropic_api import extract_anthropic
from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import JsonPath
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import _classify_string
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import load_json
from phiwall.extractors.openai_api import ENDPOINTS as OPENAI_ENDPOINTS
from phiwall.extractors.openai_api import extract_openai
from phiwall.extractors.table import Endpoint
from phiwall.extractors.table import dotted
from phiwall.extractors.table import file_ref
from phiwall.extractors.table import match
from phiwall.extractors.table import match_groups
from phiwall.extractors.table import named
from phiwall.extractors.table import need
from phiwall.extractors.table import table
from phiwall.extractors.table import walk
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Locator
from phiwall.request import RequestData

CH, UP, OT = EndpointKind.CHAT, EndpointKind.UPLOAD, EndpointKind.OTHER

_VER = r"/v1(?:alpha|beta|beta1)?"
# Vertex: projects/{p}/locations/{l}/publishers/{pub}/models/{m}; express mode: publishers/{pub}/models/{m};
# Developer API: models/{m} or tunedModels/{m}; Vertex endpoints/{e} (deployed / tuned models).
_MODEL = r"(?:/projects/[^/]+/locations/[^/]+)?(?:/publishers/(?P<pub>[^/]+))?/(?:models|tunedModels|endpoints)/[^/:]+"
_LOC = r"(?:/projects/[^/]+/locations/[^/]+)?"

ENDPOINTS: tuple[Endpoint, ...] = table(
    [
        ("generateContent", CH, "POST", _VER + _MODEL + r":generateContent"),
        ("streamGenerateContent", CH, "POST", _VER + _MODEL + r":streamGenerateContent"),
        ("countTokens", CH, "POST", _VER + _MODEL + r":countTokens"),
        ("computeTokens", CH, "POST", _VER + _MODEL + r":computeTokens"),
        ("batchGenerateContent", CH, "POST", _VER + _MODEL + r":batchGenerateContent"),
        ("embedContent", OT, "POST", _VER + _MODEL + r":(?:embedContent|batchEmbedContents|asyncBatchEmbedContent)"),
        ("predict", OT, "POST", _VER + _MODEL + r":(?:predict|predictLongRunning)"),
        ("rawPredict", CH, "POST", _VER + _MODEL + r":(?:rawPredict|streamRawPredict)"),
        ("cachedContents", CH, "POST|PATCH", _VER + _LOC + r"/cachedContents(?:/[^/:]+)?"),
        ("interactions", CH, "POST", _VER + r"/interactions(?:/[^/:]+)?"),
        ("files.upload", UP, "POST", r"/upload" + _VER + r"/(?:files|fileSearchStores/[^/:]+:uploadToFileSearchStore)"),
        ("files.upload", UP, "PUT", r"/upload" + _VER + r"/files"),
        ("files.register", OT, "POST", _VER + r"/files(?::register)?"),
    ]
)
_OPENAI_COMPAT = re.compile(r"/v1beta/openai(?P<rest>/.*)")

# Gemini part keys whose string values are not user content.
_SKIP = METADATA_KEYS | {
    "thoughtSignature",
    "thought_signature",
    "name",
    "responseMimeType",
    "response_mime_type",
    "responseModalities",
    "mediaResolution",
    "cachedContent",
    "ttl",
    "expireTime",
    "labels",
    "safetySettings",
    "generationConfig",
    "toolConfig",
    "tools",
    "videoMetadata",
}
# File API resources: a fileUri pointing here names bytes that were uploaded (and inspected) earlier.
_FILE_API = re.compile(r"^https://generativelanguage\.googleapis\.com/v1\w*/(files/[A-Za-z0-9_-]+)$")


def classify(method: str, path: str) -> tuple[Endpoint, re.Match[str]] | None:
    return match_groups(ENDPOINTS, method, path)


class GeminiAPIAdapter(Rewriting):
    service: ClassVar[str] = "gemini_api"
    reply_stream: ClassVar[str] = "gemini"

    def __init__(self, service: str = "gemini_api") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        path = req.path_only
        compat = _OPENAI_COMPAT.fullmatch(path)
        if compat:
            ep_o = match(OPENAI_ENDPOINTS, req.method, path)
            if ep_o is not None:
                with named("openai." + ep_o.name):
                    extract_openai(ep_o.name, req, body, c)
                return c.envelope(self.service_name, "openai." + ep_o.name, ep_o.kind)
        found = classify(req.method, path)
        if found is None:
            shape = collect_any(body, req.header("content-type"), c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", EndpointKind.OTHER)
        ep, m = found
        name = ep.name
        with named(name):
            if name == "files.upload":
                return self._upload(req, body, c)
            if not body.strip():
                return c.envelope(self.service_name, name, ep.kind)
            doc = load_json(body, f"{name} request body")
            need(isinstance(doc, dict), name, "body is not a JSON object")
            if name == "rawPredict" and (m.group("pub") or "") == "anthropic":
                extract_anthropic("rawPredict", doc, c)
                return c.envelope(self.service_name, "rawPredict.anthropic", ep.kind)
            if name in ("generateContent", "streamGenerateContent", "countTokens", "computeTokens"):
                contents = doc.get("contents")
                if (
                    name in ("countTokens",)
                    and contents is None
                    and isinstance(doc.get("generateContentRequest"), dict)
                ):
                    contents = doc["generateContentRequest"].get("contents")
                need(contents is None or isinstance(contents, list), name, "contents is not a list")
                for i, content in enumerate(contents or []):
                    need(isinstance(content, dict), name, f"contents.{i} is not an object")
                    parts = content.get("parts")
                    need(parts is None or isinstance(parts, list), name, f"contents.{i}.parts is not a list")
            walk_gemini(doc, c)
        return c.envelope(self.service_name, name, ep.kind)

    def _upload(self, req: RequestData, body: bytes, c: PartCollector) -> Envelope:
        """Resumable protocol: `start` carries JSON metadata (display name), `upload[, finalize]` raw bytes. Each
        chunk is inspected on its own here (a DICOM's magic is in its first chunk); phiwall.uploads keeps state."""
        command = req.header("x-goog-upload-command").lower()
        upload = req.query.get("upload_id")
        if "start" in command or (not command and req.content_type == "application/json" and not upload):
            if body.strip():
                walk_gemini(load_json(body, "files.upload start body"), c)
            c.notes.append("resumable:start")
        elif body:
            if req.content_type.startswith("multipart/"):
                collect_any(body, req.header("content-type"), c)  # uploadType=multipart: metadata + bytes
            else:
                c.file(
                    body,
                    Locator("body", (), "raw"),
                    declared_type=req.header("x-goog-upload-header-content-type") or None,
                )
            offset = req.header("x-goog-upload-offset")
            c.notes.append(f"resumable:{command or 'raw'}@{offset or '0'}")
        return c.envelope(self.service_name, "files.upload", EndpointKind.UPLOAD, correlation_id=upload)


def walk_gemini(doc: Any, c: PartCollector, path: JsonPath = ()) -> None:
    """Inspect every string; Gemini inline data and file data dicts are taken apart by their schema."""

    def hook(d: dict[str, Any], p: JsonPath) -> bool:
        for key in ("inlineData", "inline_data"):
            inline = d.get(key)
            if isinstance(inline, dict) and "data" in inline:
                data = inline["data"]
                if not isinstance(data, str):
                    # No endpoint here: every caller runs inside `named(<endpoint>)`, which prefixes the real one.
                    raise ExtractionError(f"unexpected request shape ({dotted(p + (key, 'data'))} is not a string)")
                _classify_string(data, p + (key, "data"), "data", c, "json", frozenset({"data"}))
                rest = {k: v for k, v in d.items() if k != key}
                walk(rest, c, path=p, hook=hook, skip_keys=_SKIP)
                return True
        for key in ("fileData", "file_data"):
            fd = d.get(key)
            if isinstance(fd, dict):
                uri = fd.get("fileUri", fd.get("file_uri"))
                if isinstance(uri, str):
                    _file_uri(uri, p + (key, "fileUri"), c)
                rest = {k: v for k, v in d.items() if k != key}
                walk(rest, c, path=p, hook=hook, skip_keys=_SKIP)
                return True
        # Interactions API content blocks: {type: image|document|audio|video, data | uri, mime_type}
        if d.get("type") in ("image", "document", "audio", "video") and ("data" in d or "uri" in d):
            if isinstance(d.get("data"), str):
                _classify_string(d["data"], p + ("data",), "data", c, "json", frozenset({"data"}))
            if isinstance(d.get("uri"), str):
                _file_uri(d["uri"], p + ("uri",), c)
            rest = {k: v for k, v in d.items() if k not in ("data", "uri")}
            walk(rest, c, path=p, hook=hook, skip_keys=_SKIP)
            return True
        return False

    walk(doc, c, path=path, hook=hook, skip_keys=_SKIP)


def _file_uri(uri: str, p: JsonPath, c: PartCollector) -> None:
    m = _FILE_API.match(uri.strip())
    if m:
        file_ref(c, m.group(1), dotted(p))
    elif uri.startswith("files/"):
        file_ref(c, uri, dotted(p))
    else:
        scheme = uri.split(":", 1)[0].lower() if ":" in uri[:10] else "uri"
        c.reference(Locator("json", p, "utf8"), scheme)
