"""Grok web: grok.com (REST uploads and the legacy REST chat) and Grok inside X (x.com, api.x.com, grok.x.com).

Shapes: /work/shared/spec/request-shapes.md §4.2, §4.3 [RE]. Why these rules:
- grok.com switched uploads from base64 JSON to multipart v2 in 2026; clients still use both, and one logger saw
  FormData on the legacy path, so each upload path accepts JSON *and* multipart; anything else on a known upload
  path is an ExtractionError naming the endpoint (fail closed).
- X sends Grok's JSON as `text/plain;charset=UTF-8`: bodies are parsed by shape, never gated on Content-Type.
- x.com is a whole social network. phiwall only needs Grok: on X hosts, only POST/PUT bodies under the Grok API
  prefixes are inspected (the known ones by shape, the rest generically); every other x.com request is allowed
  without inspection (endpoint "passthrough", no parts). See docs/decisions.md "x.com: only Grok paths".
The grok.com chat WebSocket (`/ws/mgw/`) is handled elsewhere; WebSocket messages reaching this adapter are
inspected generically.
"""

from __future__ import annotations

import re
from typing import Any
from typing import ClassVar

from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import _classify_string
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import collect_multipart
from phiwall.extractors.base import load_json
from phiwall.extractors.table import Endpoint
from phiwall.extractors.table import file_ref
from phiwall.extractors.table import match
from phiwall.extractors.table import named
from phiwall.extractors.table import need
from phiwall.extractors.table import table
from phiwall.extractors.table import walk
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.request import RequestData

CH, UP, OT = EndpointKind.CHAT, EndpointKind.UPLOAD, EndpointKind.OTHER

GROK_ENDPOINTS: tuple[Endpoint, ...] = table(
    [
        ("upload.v2", UP, "POST", r"/http/upload-file-v2/direct/?"),
        ("upload.legacy", UP, "POST", r"/rest/app-chat/upload-file/?"),
        ("conversations.new", CH, "POST", r"/rest/app-chat/conversations/new/?"),
        ("conversations.responses", CH, "POST", r"/rest/app-chat/conversations/[^/]+/responses/?"),
    ]
)

X_ENDPOINTS: tuple[Endpoint, ...] = table(
    [
        ("grok.attachment", UP, "POST", r"(?:/i/api)?/2/grok/attachment\.json"),
        ("grok.add_response", CH, "POST", r"(?:/i/api)?/2/grok/add_response\.json"),
    ]
)
# What on an X host is Grok: everything else there is ordinary X traffic phiwall leaves alone.
X_GROK_PATHS = re.compile(r"^(?:/i/api)?/2/grok/")

_SKIP = METADATA_KEYS | {
    "modelName",
    "fileMimeType",
    "parentResponseId",
    "deviceEnvInfo",
    "toolOverrides",
    "responseMetadata",
    "modelMode",
    "grokModelOptionId",
    "conversationId",
    "promptSource",
    "systemPromptName",
    "file_source",
    "fileAttachments",
    "imageAttachments",
    "fileMetadataId",
}


def _upload(name: str, req: RequestData, body: bytes, c: PartCollector) -> None:
    """An upload path: multipart (v2; also seen on the legacy path) or JSON `{fileName, fileMimeType, content}`
    with bare base64 (legacy; decoded strictly). Sniffed by body, not by Content-Type."""
    ctype = req.header("content-type")
    if ctype.lower().startswith("multipart/"):
        collect_multipart(body, ctype, c)
        return
    head = body.lstrip()[:1]
    need(head == b"{", name, "neither multipart nor a JSON object")
    doc = load_json(body, f"{name} request body")
    need(isinstance(doc, dict), name, "body is not a JSON object")
    content = doc.get("content")
    need(isinstance(content, str), name, "content (base64 file) is not a string")
    _classify_string(content, ("content",), "content", c, "json", frozenset({"content"}))
    walk({k: v for k, v in doc.items() if k != "content"}, c, skip_keys=_SKIP)


def _chat(name: str, body: bytes, c: PartCollector) -> None:
    doc = load_json(body, f"{name} request body")
    need(isinstance(doc, dict), name, "body is not a JSON object")
    need(isinstance(doc.get("message", ""), str), name, "message is not a string")
    for key in ("fileAttachments", "imageAttachments"):
        for ref in doc.get(key) or []:
            if isinstance(ref, str):
                file_ref(c, ref, key)
    walk({k: v for k, v in doc.items() if k not in ("fileAttachments", "imageAttachments")}, c, skip_keys=_SKIP)


class GrokWebAdapter(Rewriting):
    service: ClassVar[str] = "grok_web"
    reply_stream: ClassVar[str] = "grok_web"

    def __init__(self, service: str = "grok_web") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        ep = None if req.websocket else match(GROK_ENDPOINTS, req.method, req.path_only)
        if ep is None:
            shape = collect_any(body, req.header("content-type"), c, container="websocket" if req.websocket else "json")
            c.notes.append(f"generic:{shape}")
            kind = UP if shape in ("file", "binary", "multipart") else OT
            return c.envelope(self.service_name, "generic", kind)
        with named(ep.name):
            if body.strip():
                if ep.kind == UP:
                    _upload(ep.name, req, body, c)
                else:
                    _chat(ep.name, body, c)
        return c.envelope(self.service_name, ep.name, ep.kind)


class XGrokAdapter(Rewriting):
    """Grok inside X. Non-Grok X paths get an empty 'passthrough' envelope: nothing to inspect, allowed."""

    service: ClassVar[str] = "x_grok"

    def __init__(self, service: str = "x_grok") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        path = req.path_only
        if not X_GROK_PATHS.match(path) or req.method.upper() not in ("POST", "PUT", "PATCH"):
            c.notes.append("passthrough:not-grok")
            return c.envelope(self.service_name, "passthrough", OT)
        ep = match(X_ENDPOINTS, req.method, path)
        if ep is None:
            shape = collect_any(body, req.header("content-type"), c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", UP if shape in ("file", "binary", "multipart") else OT)
        with named(ep.name):
            if body.strip():
                if ep.name == "grok.attachment":
                    ctype = req.header("content-type")
                    need(ctype.lower().startswith("multipart/"), ep.name, "expected a multipart body")
                    collect_multipart(body, ctype, c)
                else:
                    _add_response(body, c)
        return c.envelope(self.service_name, ep.name, ep.kind)


def _add_response(body: bytes, c: PartCollector) -> None:
    """`{"responses":[{"message", "sender", "fileAttachments"}], …}`, often labelled text/plain."""
    name = "grok.add_response"
    doc: Any = load_json(body, f"{name} request body")
    need(isinstance(doc, dict), name, "body is not a JSON object")
    responses = doc.get("responses")
    need(isinstance(responses, list), name, "responses is not a list")
    for i, r in enumerate(responses):
        need(isinstance(r, dict), name, f"responses.{i} is not an object")
        need(isinstance(r.get("message", ""), str), name, f"responses.{i}.message is not a string")
        for a in r.get("fileAttachments") or []:
            ref = a if isinstance(a, str) else (a.get("mediaId") if isinstance(a, dict) else None)
            if isinstance(ref, str):
                file_ref(c, ref, f"responses.{i}.fileAttachments")
                if isinstance(a, str):
                    r["fileAttachments"] = [x for x in r["fileAttachments"] if x != a]  # an id, not text
    walk(doc, c, skip_keys=_SKIP | {"mediaId", "mediaIdStr", "mimeType"})
