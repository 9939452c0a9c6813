"""claude.ai web (and mobile) app: file uploads and the completion request.

Shapes: /work/shared/spec/request-shapes.md §5.2 [RE]. Why these rules:
- binary files (images, PDFs) go up as multipart `file` to `wiggle/upload-file` (or the historical
  `convert_document` / `{org}/upload`, or the mobile `filestore/fs/createFile`): every file field is sniffed;
- text-like files (txt, csv, code) never get an upload request: the browser reads them and sends the whole text in
  the completion's `attachments[].extracted_content`, so that field is inspected as text, with `prompt`;
- binary uploads are then referenced by uuid in `files[]` (recorded as `file_ref:` notes).
A completion body that is not an object, or whose `prompt`/`attachments` changed type, is an ExtractionError
naming the endpoint (fail closed: the web app changes without notice).
"""

from __future__ import annotations

from typing import ClassVar

from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
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
from phiwall.model import Locator
from phiwall.request import RequestData

CH, UP, OT = EndpointKind.CHAT, EndpointKind.UPLOAD, EndpointKind.OTHER
_ORG = r"/api/organizations/[^/]+"
ENDPOINTS: tuple[Endpoint, ...] = table(
    [
        ("wiggle.upload-file", UP, "POST", _ORG + r"/conversations/[^/]+/wiggle/upload-file/?"),
        ("files.prepare-upload", OT, "POST", _ORG + r"/conversations/[^/]+/files/prepare-upload/?"),
        ("convert_document", UP, "POST", r"/api/convert_document/?"),
        ("upload", UP, "POST", r"/api/[^/]+/upload/?"),
        ("filestore.createFile", UP, "POST", r"/v1/filestore/fs/createFile/?"),
        ("completion", CH, "POST", _ORG + r"/chat_conversations/[^/]+/(?:retry_)?completion/?"),
        ("chat_conversations", CH, "POST|PUT", _ORG + r"/chat_conversations(?:/[^/]+)?/?"),
    ]
)
_SKIP = METADATA_KEYS | {
    "timezone",
    "locale",
    "rendering_mode",
    "uuid",
    "file_uuid",
    "file_type",
    "file_kind",
    "human_message_uuid",
    "assistant_message_uuid",
    "parent_message_uuid",
    "sync_sources",
    "personalized_styles",
    "tools",
    "orgUuid",
    "file_size",
}


class ClaudeWebAdapter(Rewriting):
    service: ClassVar[str] = "claude_web"
    reply_stream: ClassVar[str] = "anthropic"

    def __init__(self, service: str = "claude_web") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        ep = match(ENDPOINTS, req.method, req.path_only)
        if ep is None or req.websocket:
            shape = collect_any(body, req.header("content-type"), c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", UP if shape in ("file", "binary", "multipart") else OT)
        if body.strip():
            with named(ep.name):
                _known(ep, req, body, c)
        return c.envelope(self.service_name, ep.name, ep.kind)


def _known(ep: Endpoint, req: RequestData, body: bytes, c: PartCollector) -> None:
    """A known endpoint's body: an upload must be multipart with a file; a completion is taken apart by field."""
    ctype = req.header("content-type")
    if ep.kind == UP:
        need(ctype.lower().startswith("multipart/"), ep.name, "expected a multipart body")
        fields = collect_multipart(body, ctype, c)
        need(any(f.filename is not None or f.name == "file" for f in fields), ep.name, "no file field")
        return
    doc = load_json(body, f"{ep.name} request body")
    need(isinstance(doc, dict), ep.name, "body is not a JSON object")
    if ep.name == "completion":
        need(isinstance(doc.get("prompt", ""), str), ep.name, "prompt is not a string")
        atts = doc.get("attachments") or []
        need(isinstance(atts, list), ep.name, "attachments is not a list")
        for i, a in enumerate(atts):
            need(isinstance(a, dict), ep.name, f"attachments.{i} is not an object")
            text = a.get("extracted_content")
            need(text is None or isinstance(text, str), ep.name, f"attachments.{i}.extracted_content is not text")
            if isinstance(a.get("file_uuid"), str):
                file_ref(c, a["file_uuid"], f"attachments.{i}")
        for i, f in enumerate(doc.get("files") or []):
            ref = f if isinstance(f, str) else (f.get("file_uuid") or f.get("uuid") if isinstance(f, dict) else None)
            if isinstance(ref, str):
                file_ref(c, ref, f"files.{i}")
        if isinstance(doc.get("prompt"), str):
            c.text(doc["prompt"], Locator("json", ("prompt",), "utf8"))
        walk({k: v for k, v in doc.items() if k not in ("prompt", "files")}, c, skip_keys=_SKIP)
    else:
        walk(doc, c, skip_keys=_SKIP)
