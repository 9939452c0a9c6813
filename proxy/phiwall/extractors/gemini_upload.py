"""Google resumable uploads: the Gemini File API (`generativelanguage.googleapis.com/upload/v1beta/files`, also
`…:uploadToFileSearchStore`) and the Gemini web app's uploads to `content-push.googleapis.com` /
`push.clients6.google.com`. Shapes: ../shared/spec/request-shapes.md §3.1 (File API) and §3.3 (web) .

One file arrives in several requests, told apart by `X-Goog-Upload-Command`:
- `start`: metadata only (JSON `{"file": {"displayName", "mimeType"}}` from the SDK, a url-encoded
  `File+name%3A+scan.png=` from the browser); the display name is user text and is inspected;
- `upload` / `upload, finalize`: raw bytes at `X-Goog-Upload-Offset`. The Content-Type is not trusted (the browser
  labels a PNG `application/x-www-form-urlencoded`): the body is always one raw file chunk;
- `query`, `cancel`: nothing to inspect.
The addon (phiwall.uploads) holds the chunks and sends the assembled file back through this adapter on the
finalizing request. The web app's one-request variant A is a multipart POST to `/upload` without the header.
"""

from __future__ import annotations

from typing import ClassVar

from phiwall.extractors import route
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import collect_multipart
from phiwall.extractors.base import multipart_boundary
from phiwall.extractors.table import named
from phiwall.locators import FormKey
from phiwall.locators import NotRewritable
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Locator
from phiwall.request import RequestData
from phiwall.uploads import ASSEMBLED_HEADER

COMMAND_HEADER = "x-goog-upload-command"
OFFSET_HEADER = "x-goog-upload-offset"
FILE_NAME_HEADER = "x-goog-upload-file-name"
RENAME_HEADER = "phiwall cannot rename a file named in an upload header; rename the file and upload it again"


def upload_commands(req: RequestData) -> frozenset[str]:
    """{"start"}, {"upload"}, {"upload", "finalize"}, … — empty when the request is not a resumable step."""
    return frozenset(c.strip().lower() for c in req.header(COMMAND_HEADER).split(",") if c.strip())


class GeminiUploadAdapter(Rewriting):
    """One step of a Google resumable upload, or a one-shot multipart upload to the web app's push hosts."""

    service: ClassVar[str] = "gemini_upload"

    def __init__(self, service: str = "gemini_upload") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        # Report the service the host belongs to (gemini_api or gemini_web), so policies scoped to it apply.
        host_service = route(req.host)
        name = host_service.name if host_service else self.service_name
        c = PartCollector()
        if req.header(ASSEMBLED_HEADER):
            c.file(body, Locator("body", (), "raw"))
            return c.envelope(name, "files.upload", EndpointKind.UPLOAD, correlation_id=req.query.get("upload_id"))
        cmds = upload_commands(req)
        if "start" in cmds:
            with named("files.upload.start"):
                shape = collect_any(body, req.header("content-type"), c) if body.strip() else "empty"
            if req.header(FILE_NAME_HEADER):
                # A header phiwall forwards as sent: inspected, but a name to change must be changed by the person.
                loc = Locator("header", (FILE_NAME_HEADER,), "utf8", (NotRewritable(RENAME_HEADER),))
                c.name(req.header(FILE_NAME_HEADER), loc)
            # The browser's start body is `File+name%3A+scan.png=`: a form whose *key* is the text.
            if shape == "form":
                from phiwall.extractors.base import iter_form

                with named("files.upload.start"):
                    for i, (k, _v) in enumerate(iter_form(body)):
                        c.text(k, Locator("form", (i,), "utf8", (FormKey(i),)))
            return c.envelope(name, "files.upload.start", EndpointKind.UPLOAD)
        if "upload" in cmds:
            if body:
                c.file(body, Locator("body", (), "raw"), declared_type=req.content_type or None)
            endpoint = "files.upload" if "finalize" in cmds else "files.upload.chunk"
            return c.envelope(name, endpoint, EndpointKind.UPLOAD, correlation_id=req.query.get("upload_id"))
        if cmds & {"query", "cancel"}:
            return c.envelope(name, "files.upload." + sorted(cmds)[0], EndpointKind.OTHER)
        # No resumable header: the web app's variant A (multipart with a `file` part), or something new.
        ctype = req.header("content-type")
        if req.content_type.startswith("multipart/") and multipart_boundary(ctype):
            with named("files.upload"):
                collect_multipart(body, ctype, c)
            return c.envelope(name, "files.upload", EndpointKind.UPLOAD)
        shape = collect_any(body, req.header("content-type"), c)
        c.notes.append(f"generic:{shape}")
        return c.envelope(name, "generic", EndpointKind.UPLOAD if shape in ("file", "binary") else EndpointKind.OTHER)
