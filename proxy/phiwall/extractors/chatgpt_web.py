"""ChatGPT web app (chatgpt.com, chat.openai.com; logged in `backend-api`, logged out `backend-anon`) and its file
storage (the signed blob URL the bytes are PUT to). Shapes: ../shared/spec/request-shapes.md §2 [RE].

The web app never sends file bytes in the chat request: it registers the file (`POST …/files`, JSON), PUTs the raw
bytes to the `upload_url` the registration answered with (another host, no cookies), and then sends only
`file-…` pointers. The PUT is the byte-carrying request, inspected here as one raw file (`ChatGPTFilesAdapter`);
the addon learns the URL and the file id from the registration response (phiwall.uploads) so a blocked upload's id
stays blocked in the conversation. Conversation text and the pre-send `prepare` request are inspected as text.
Paths not in the table go through the generic extraction, never straight through.
"""

from __future__ import annotations

import re
from typing import Any
from typing import ClassVar

from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import body_boundary
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import collect_multipart
from phiwall.extractors.base import load_json
from phiwall.extractors.base import walk_json
from phiwall.extractors.table import named
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Locator
from phiwall.request import RequestData
from phiwall.uploads import ASSEMBLED_HEADER

# Protocol fields of the conversation body that never hold user content.
SKIP_KEYS = METADATA_KEYS | frozenset(
    {
        "content_type",
        "asset_pointer",
        "mimeType",
        "mime_type",
        "kind",
        "use_case",
        "entry_surface",
        "library_file_id",
        "conversation_origin",
        "system_hints",
        "client_prepare_state",
        "paragen_cot_summary_display_override",
        "force_parallel_switch",
        "history_and_training_disabled",
        "force_use_sse",
        "force_paragen",
        "supported_encodings",
        "conduit_token",
    }
)

# Fields of the JSON-patch / Responses shapes whose base64 must decode (Codex uses the Responses body).
STRICT_B64 = frozenset({"file_data"})

_ROOT = r"^/backend-(?:api|anon)"
# (endpoint name, kind, method, path regex) — first match wins.
ENDPOINTS: tuple[tuple[str, EndpointKind, str, re.Pattern[str]], ...] = tuple(
    (name, kind, method, re.compile(_ROOT + pat + r"/?$"))
    for name, kind, method, pat in (
        ("files.create", EndpointKind.UPLOAD, "POST", r"/files"),
        ("files.uploaded", EndpointKind.UPLOAD, "POST", r"/files/[^/]+/uploaded"),
        ("files.process_upload_stream", EndpointKind.UPLOAD, "POST", r"/files/process_upload_stream"),
        ("conversation.prepare", EndpointKind.CHAT, "POST", r"(?:/f)?/conversation/prepare"),
        ("conversation", EndpointKind.CHAT, "POST", r"(?:/f)?/conversation"),
        ("codex.responses", EndpointKind.CHAT, "POST", r"/codex/responses"),
    )
)


def classify(method: str, path: str) -> tuple[str, EndpointKind] | None:
    for name, kind, m, rx in ENDPOINTS:
        if m == method and rx.match(path):
            return name, kind
    return None


class ChatGPTWebAdapter(Rewriting):
    """chatgpt.com requests: registration, conversation, prepare, Codex; the rest generically."""

    service: ClassVar[str] = "chatgpt_web"
    reply_stream: ClassVar[str] = "chatgpt_web"

    def __init__(self, service: str = "chatgpt_web") -> None:
        self.service_name = service

    def registers_upload(self, method: str, path: str) -> bool:
        """`POST /backend-api/files` registers a file (name, size) and answers with a signed blob URL for the PUT."""
        found = classify(method.upper(), path.split("?")[0])
        return found is not None and found[0] == "files.create"

    def registered_upload(self, reply: Any) -> tuple[str, str] | None:
        if (
            isinstance(reply, dict)
            and isinstance(reply.get("upload_url"), str)
            and isinstance(reply.get("file_id"), str)
        ):
            return reply["upload_url"], reply["file_id"]
        return None

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        found = classify(req.method.upper(), req.path_only)
        if found is None:
            shape = collect_any(body, req.header("content-type"), c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", EndpointKind.OTHER)
        name, kind = found
        if body.strip():
            with named(name):
                doc = load_json(body, f"{name} request body")  # the body may arrive text/plain or zstd: sniffed
                walk_json(doc, c, skip_keys=SKIP_KEYS, strict_b64_keys=STRICT_B64)
        return c.envelope(self.service_name, name, kind)


class ChatGPTFilesAdapter(Rewriting):
    """The byte-carrying request of a ChatGPT upload: a `PUT` of the raw file (Azure Blob or oaiusercontent), or
    one Azure Put Block. Its Content-Type is the file's claimed type and is not trusted: the body is sniffed."""

    service: ClassVar[str] = "chatgpt_files"

    def __init__(self, service: str = "chatgpt_files") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        if req.method.upper() in ("PUT", "POST") and body:
            comp = req.query.get("comp", "")
            if req.header(ASSEMBLED_HEADER):
                c.file(body, Locator("body", (), "raw"), declared_type=req.content_type or None)
                return c.envelope(self.service_name, "blob.assembled", EndpointKind.UPLOAD)
            if comp == "blocklist":
                # The list of block ids that make the blob (XML, no content); the addon judges the assembled file.
                c.notes.append("azure:blocklist")
                return c.envelope(self.service_name, "blob.blocklist", EndpointKind.UPLOAD)
            if comp != "block" and body_boundary(body):
                # Not what the web app sends today (a raw PUT), but a form upload to the storage host must not be
                # judged as one opaque blob: its file parts are taken out and sniffed.
                with named("blob.put"):
                    collect_multipart(body, f'multipart/form-data; boundary="{body_boundary(body)}"', c)
                return c.envelope(self.service_name, "blob.put", EndpointKind.UPLOAD)
            c.file(body, Locator("body", (), "raw"), declared_type=req.content_type or None)
            return c.envelope(self.service_name, "blob.block" if comp == "block" else "blob.put", EndpointKind.UPLOAD)
        return c.envelope(self.service_name, "blob.other", EndpointKind.OTHER)
