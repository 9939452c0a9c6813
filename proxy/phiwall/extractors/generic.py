"""The fallback adapter for every endpoint on a guarded host that no service adapter knows: it finds files
(JSON strings that decode to a file, multipart file parts, raw binary bodies) and free text anywhere, so a new or
changed endpoint is inspected instead of passing through."""

from __future__ import annotations

from typing import ClassVar

from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import collect_any
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.request import RequestData


class GenericAdapter(Rewriting):
    service: ClassVar[str] = "generic"

    def __init__(self, service: str = "generic") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        shape = collect_any(body, req.header("content-type"), c, container="websocket" if req.websocket else "json")
        kind = EndpointKind.UPLOAD if shape in ("file", "binary", "multipart") else EndpointKind.OTHER
        c.notes.append(f"generic:{shape}")
        return c.envelope(self.service_name, "generic", kind)
