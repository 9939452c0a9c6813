"""OpenAI API (api.openai.com, regional and Azure hosts): chat completions, responses, files.

Shapes: ../shared/spec/request-shapes.md §1. Every request resends the whole history, so every message is
inspected, not only the last one. Known base64 fields must decode; a broken one is an error, not text.
"""

from __future__ import annotations

import re
from typing import ClassVar

from phiwall.errors import ExtractionError
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import collect_multipart
from phiwall.extractors.base import load_json
from phiwall.extractors.base import walk_json
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.request import RequestData

# Fields that carry base64 in the OpenAI shapes (input_audio.data, file.file_data, batch inline data).
STRICT_B64 = frozenset({"data", "file_data"})

# (endpoint name, kind, path regex) — first match wins. Paths may carry an Azure prefix
# (/openai/deployments/{d}/...) or the OpenAI-compatible /v1beta/openai/ prefix (Gemini).
_PREFIX = r"^(?:/openai)?(?:/v1beta/openai|/v1)?(?:/deployments/[^/]+)?"
ENDPOINTS: tuple[tuple[str, EndpointKind, re.Pattern[str]], ...] = tuple(
    (name, kind, re.compile(_PREFIX + pat + r"/?$"))
    for name, kind, pat in (
        ("chat.completions", EndpointKind.CHAT, r"/chat/completions"),
        ("responses", EndpointKind.CHAT, r"/responses"),
        ("responses.input_tokens", EndpointKind.CHAT, r"/responses/input_tokens"),
        ("responses.compact", EndpointKind.CHAT, r"/responses/compact"),
        ("conversations", EndpointKind.CHAT, r"/conversations(?:/[^/]+/items)?"),
        ("completions", EndpointKind.CHAT, r"/completions"),
        ("embeddings", EndpointKind.OTHER, r"/embeddings"),
        ("moderations", EndpointKind.OTHER, r"/moderations"),
        ("files.create", EndpointKind.UPLOAD, r"/files"),
        ("images", EndpointKind.UPLOAD, r"/images/(?:edits|variations|generations)"),
        ("audio", EndpointKind.UPLOAD, r"/audio/(?:transcriptions|translations)"),
        ("threads", EndpointKind.CHAT, r"/threads(?:/[^/]+/(?:messages|runs))?(?:/runs)?"),
    )
)


def classify(path: str) -> tuple[str, EndpointKind] | None:
    for name, kind, rx in ENDPOINTS:
        if rx.match(path):
            return name, kind
    return None


class OpenAIAdapter:
    service: ClassVar[str] = "openai_api"

    def __init__(self, service: str = "openai_api") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        found = classify(req.path_only)
        if found is None:
            shape = collect_any(body, req.content_type, c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", EndpointKind.OTHER)
        name, kind = found
        if req.content_type.startswith("multipart/"):
            collect_multipart(body, req.header("content-type"), c)
        elif body.strip():
            doc = load_json(body, f"{name} request body")
            if name in ("chat.completions", "responses") and not isinstance(doc, dict):
                raise ExtractionError(f"{name} request body is not a JSON object")
            walk_json(doc, c, strict_b64_keys=STRICT_B64)
        return c.envelope(self.service_name, name, kind)
