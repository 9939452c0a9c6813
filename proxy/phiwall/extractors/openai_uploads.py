"""OpenAI Uploads API: one large file sent as many parts (`POST /v1/uploads`, `…/{id}/parts` in any order,
`…/{id}/complete` with the order in `part_ids`). Shapes: ../shared/spec/request-shapes.md §1.6 [DOC].

Each request is inspected for what it carries (the create body's filename; a part's `data` chunk, checked early for
file magic), and the addon (phiwall.uploads) sends the assembled file back through here on `/complete`, the only
request that turns the parts into a stored `file-…`. The same paths under Azure's `/openai/` prefix match.
"""

from __future__ import annotations

import re
from typing import ClassVar

from phiwall.extractors import route
from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import collect_multipart
from phiwall.extractors.base import load_json
from phiwall.extractors.base import walk_json
from phiwall.extractors.table import named
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.model import Locator
from phiwall.request import RequestData
from phiwall.uploads import ASSEMBLED_HEADER

UPLOAD_PATH = re.compile(r"^(?:/openai)?(?:/v1)?/uploads(?:/(?P<id>[^/]+)/(?P<step>parts|complete|cancel))?/?$")
SKIP_KEYS = METADATA_KEYS | frozenset({"part_ids", "md5", "bytes"})


def upload_step(path: str) -> tuple[str, str | None] | None:
    """("create", None) / ("parts" | "complete" | "cancel", upload id), or None for other paths."""
    m = UPLOAD_PATH.match(path)
    if not m:
        return None
    return (m.group("step") or "create", m.group("id"))


class OpenAIUploadsAdapter(Rewriting):
    service: ClassVar[str] = "openai_uploads"

    def __init__(self, service: str = "openai_uploads") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        host_service = route(req.host)
        name = host_service.name if host_service else self.service_name
        step = upload_step(req.path_only) or ("create", None)
        c = PartCollector()
        if req.header(ASSEMBLED_HEADER):
            c.file(body, Locator("body", (), "raw"))
            return c.envelope(name, "uploads.complete", EndpointKind.UPLOAD, correlation_id=step[1])
        if step[0] == "parts":
            with named("uploads.parts"):
                collect_multipart(body, req.header("content-type"), c)
            return c.envelope(name, "uploads.parts", EndpointKind.UPLOAD, correlation_id=step[1])
        if body.strip():
            with named(f"uploads.{step[0]}"):
                walk_json(load_json(body, f"uploads.{step[0]} request body"), c, skip_keys=SKIP_KEYS)
        return c.envelope(name, f"uploads.{step[0]}", EndpointKind.UPLOAD, correlation_id=step[1])
