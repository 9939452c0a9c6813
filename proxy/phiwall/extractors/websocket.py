"""WebSocket messages from the client on guarded hosts: grok.com's gateway (`/ws/mgw/`, `/ws/imagine/listen`), the
OpenAI Responses WebSocket mode and Realtime API, and anything else a chatbot opens (Gemini Live, Copilot).
Shapes: ../shared/spec/request-shapes.md §1.3, §1.4, §4.2, §7.5.

The addon hands each client→server message over as a RequestData with `websocket=True` (method "WS", the
handshake's path and headers, the message as body). Messages are JSON text in every known protocol; the walk
skips event plumbing (type, ids, session settings) and inspects every other string, decoding data URLs and bare
base64 (Realtime `input_image`, audio) as files. A binary or non-JSON message is inspected generically.
"""

from __future__ import annotations

import re
from typing import ClassVar

from phiwall.extractors import route
from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import try_json
from phiwall.extractors.base import walk_json
from phiwall.extractors.table import named
from phiwall.model import EndpointKind
from phiwall.model import Envelope
from phiwall.request import RequestData

# Keys of the event envelopes that never hold user content (grok gateway, OpenAI Responses/Realtime events).
SKIP_KEYS = METADATA_KEYS | frozenset(
    {
        "client_message_id",
        "file_attachment_ids",
        "x_grok_session",
        "uid",
        "modalities",
        "output_modalities",
        "turn_detection",
        "input_audio_format",
        "output_audio_format",
        "item_id",
        "response_id",
        "previous_item_id",
    }
)

# (host glob-ish regex, path regex, endpoint name, notice style) — first match wins.
PROTOCOLS: tuple[tuple[re.Pattern[str], re.Pattern[str], str, str], ...] = (
    (re.compile(r"(^|\.)grok\.com$"), re.compile(r"^/ws/mgw/?"), "ws.grok_gateway", "grok_ws"),
    (re.compile(r"(^|\.)grok\.com$"), re.compile(r"^/ws/imagine/listen"), "ws.grok_imagine", "grok_ws"),
    (re.compile(r"openai|azure"), re.compile(r"/responses/?$"), "ws.responses", "openai_ws"),
    (re.compile(r"openai|azure"), re.compile(r"/realtime/?$"), "ws.realtime", "openai_realtime"),
    (re.compile(r"googleapis\.com$"), re.compile(r"BidiGenerateContent"), "ws.gemini_live", ""),
)


def protocol(host: str, path: str) -> tuple[str, str]:
    """(endpoint name, notice style) for a WebSocket's host and handshake path; ("ws.generic", "") if unknown."""
    p = path.split("?", 1)[0]
    for hrx, prx, name, style in PROTOCOLS:
        if hrx.search(host.lower()) and prx.search(p):
            return name, style
    return "ws.generic", ""


class WebSocketAdapter(Rewriting):
    """One client→server WebSocket message."""

    service: ClassVar[str] = "websocket"

    def __init__(self, service: str = "websocket") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        host_service = route(req.host)
        name = host_service.name if host_service else self.service_name
        endpoint, _ = protocol(req.host, req.path)
        c = PartCollector()
        with named(endpoint):
            doc = try_json(body)
            if doc is not None:
                walk_json(doc, c, container="websocket", skip_keys=SKIP_KEYS, strict_b64_keys=frozenset({"file_data"}))
                return c.envelope(name, endpoint, EndpointKind.CHAT)
            shape = collect_any(body, "", c, container="websocket")
        c.notes.append(f"generic:{shape}")
        return c.envelope(name, endpoint, EndpointKind.CHAT)
