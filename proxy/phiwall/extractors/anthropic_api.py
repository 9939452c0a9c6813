"""Claude API: api.anthropic.com, and the same Messages body on Amazon Bedrock (`/model/{id}/invoke`),
Azure Foundry (`{resource}.services.ai.azure.com/anthropic/v1/messages`), Google Cloud's `claude.googleapis.com`
(`…/invoke`) and Vertex `publishers/anthropic …:rawPredict` (handled by gemini_api, which calls
`extract_anthropic`).

Shapes: /work/shared/spec/request-shapes.md §5.1. Content blocks are read by their schema because the same key
means different things: `source.data` is base64 for `type:"base64"` (decoded strictly: a broken value is an
error, not text) but plain text for `type:"text"`; `source.url` is a REMOTE_REFERENCE; `source.file_id` a file
reference. Thinking `signature`s are opaque model state. Every other string (system, text blocks, tool results,
document titles and context) is inspected as text. Foundry also serves OpenAI-shaped paths on the same host;
those go to the OpenAI parser.
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from phiwall.errors import ExtractionError
from phiwall.extractors.base import METADATA_KEYS
from phiwall.extractors.base import JsonPath
from phiwall.extractors.base import PartCollector
from phiwall.extractors.base import Rewriting
from phiwall.extractors.base import _classify_string
from phiwall.extractors.base import collect_any
from phiwall.extractors.base import collect_multipart
from phiwall.extractors.base import load_json
from phiwall.extractors.table import Endpoint
from phiwall.extractors.table import dotted
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

ENDPOINTS: tuple[Endpoint, ...] = table(
    [
        ("messages.count_tokens", CH, "POST", r"(?:/anthropic)?/v1/messages/count_tokens/?"),
        ("messages.batches", CH, "POST", r"(?:/anthropic)?/v1/messages/batches/?"),
        ("messages", CH, "POST", r"(?:/anthropic)?/v1/messages/?"),
        ("complete", CH, "POST", r"(?:/anthropic)?/v1/complete/?"),
        ("files.create", UP, "POST", r"(?:/anthropic)?/v1/files/?"),
        ("skills", UP, "POST", r"/v1/skills(?:/[^/]+/versions)?/?"),
        ("sessions.events", CH, "POST", r"/v1/sessions/[^/]+/events/?"),
        # Amazon Bedrock runtime: InvokeModel (Messages body) and Converse (its own content shape, bytes in base64).
        ("bedrock.invoke", CH, "POST", r"/model/[^/]+/invoke(?:-with-response-stream)?/?"),
        ("bedrock.converse", CH, "POST", r"/model/[^/]+/converse(?:-stream)?/?"),
        # Google Cloud "Claude" endpoint (claude.googleapis.com).
        (
            "google.invoke",
            CH,
            "POST",
            r"/v1\w*/projects/[^/]+/locations/[^/]+(?:/workspaces/[^/]+)?[/:](?:invoke|streamInvoke)",
        ),
    ]
)
_MESSAGES_LIKE = frozenset({"messages", "messages.count_tokens", "bedrock.invoke", "google.invoke", "sessions.events"})

_SKIP = METADATA_KEYS | {
    "signature",
    "tool_use_id",
    "stop_sequences",
    "anthropic_version",
    "anthropic_beta",
    "custom_id",
    "citations",
    "container",
    "mcp_servers",
    "service_tier",
    "thinking",
}
_SOURCE_TYPES = frozenset({"base64", "text", "content", "url", "file"})


def classify(method: str, path: str) -> Endpoint | None:
    return match(ENDPOINTS, method, path)


class AnthropicAdapter(Rewriting):
    service: ClassVar[str] = "anthropic_api"
    reply_stream: ClassVar[str] = "anthropic"

    def __init__(self, service: str = "anthropic_api") -> None:
        self.service_name = service

    def extract(self, req: RequestData, body: bytes) -> Envelope:
        c = PartCollector()
        path = req.path_only
        ep = classify(req.method, path)
        if ep is None:
            if not path.startswith("/anthropic/"):
                # Azure Foundry hosts also serve OpenAI-shaped deployments on the same resource host.
                from phiwall.extractors.openai_api import classify as openai_classify
                from phiwall.extractors.openai_api import extract_openai

                oep = openai_classify(req.method, path)
                if oep is not None:
                    with named("openai." + oep.name):
                        extract_openai(oep.name, req, body, c)
                    return c.envelope(self.service_name, "openai." + oep.name, oep.kind)
            shape = collect_any(body, req.header("content-type"), c)
            c.notes.append(f"generic:{shape}")
            return c.envelope(self.service_name, "generic", EndpointKind.OTHER)
        if not body.strip():
            return c.envelope(self.service_name, ep.name, ep.kind)
        with named(ep.name):
            if req.content_type.startswith("multipart/"):
                collect_multipart(body, req.header("content-type"), c)
                return c.envelope(self.service_name, ep.name, ep.kind)
            need(ep.kind != UP, ep.name, "expected a multipart body")
            doc = load_json(body, f"{ep.name} request body")
            extract_anthropic(ep.name, doc, c)
        return c.envelope(self.service_name, ep.name, ep.kind)


def extract_anthropic(name: str, doc: Any, c: PartCollector, path: JsonPath = ()) -> None:
    """Take a Messages-shaped (or batch, or legacy complete) JSON document apart into `c`."""
    need(isinstance(doc, dict), name, "body is not a JSON object")
    if name == "messages.batches":
        reqs = doc.get("requests")
        need(isinstance(reqs, list), name, "requests is not a list")
        for i, r in enumerate(reqs):
            need(
                isinstance(r, dict) and isinstance(r.get("params"), dict), name, f"requests.{i}.params is not an object"
            )
            extract_anthropic("messages", r["params"], c, path + ("requests", i, "params"))
        return
    if name == "complete":
        need(isinstance(doc.get("prompt"), str), name, "prompt is not a string")
    if name in ("messages", "messages.count_tokens", "rawPredict"):
        msgs = doc.get("messages")
        need(isinstance(msgs, list), name, "messages is not a list")
        for i, m in enumerate(msgs):
            need(isinstance(m, dict), name, f"messages.{i} is not an object")
            content = m.get("content")
            need(isinstance(content, (str, list)), name, f"messages.{i}.content is neither text nor blocks")
        system = doc.get("system")
        need(system is None or isinstance(system, (str, list)), name, "system is neither text nor blocks")
    walk_anthropic(doc, c, path, endpoint=name)


def walk_anthropic(doc: Any, c: PartCollector, path: JsonPath = (), *, endpoint: str = "messages") -> None:
    def hook(d: dict[str, Any], p: JsonPath) -> bool:
        src = d.get("source")
        if isinstance(src, dict) and (d.get("type") in ("image", "document") or src.get("type") in _SOURCE_TYPES):
            _source(src, p + ("source",), c, endpoint, hook)
            rest = {k: v for k, v in d.items() if k != "source"}
            walk(rest, c, path=p, hook=hook, skip_keys=_SKIP)
            return True
        # Bedrock Converse: {image|document|video: {format, source: {bytes: <base64>} | {s3Location}}}
        if isinstance(d.get("bytes"), str) and len(d) <= 2:
            _classify_string(d["bytes"], p + ("bytes",), "bytes", c, "json", frozenset({"bytes"}))
            return True
        if isinstance(d.get("s3Location"), dict):
            c.reference(Locator("json", p + ("s3Location",), "utf8"), "s3")
            return True
        return False

    walk(doc, c, path=path, hook=hook, skip_keys=_SKIP)


def _source(src: dict[str, Any], p: JsonPath, c: PartCollector, endpoint: str, hook: Any) -> None:
    kind = src.get("type")
    if kind not in _SOURCE_TYPES:
        raise ExtractionError(f"{endpoint}: unexpected request shape (unknown content source type at {dotted(p)})")
    if kind == "base64":
        data = src.get("data")
        need(isinstance(data, str), endpoint, f"{dotted(p)}.data is not a string")
        assert isinstance(data, str)
        _classify_string(data, p + ("data",), "data", c, "json", frozenset({"data"}))
    elif kind == "text":
        data = src.get("data")
        need(isinstance(data, str), endpoint, f"{dotted(p)}.data is not a string")
        assert isinstance(data, str)
        c.text(data, Locator("json", p + ("data",), "utf8"))
    elif kind == "content":
        content = src.get("content")
        need(isinstance(content, (str, list)), endpoint, f"{dotted(p)}.content is neither text nor blocks")
        walk(content, c, path=p + ("content",), hook=hook, skip_keys=_SKIP)
    elif kind == "url":
        url = src.get("url")
        need(isinstance(url, str), endpoint, f"{dotted(p)}.url is not a string")
        assert isinstance(url, str)
        scheme = url.split(":", 1)[0].lower() if ":" in url[:10] else "url"
        c.reference(Locator("json", p + ("url",), "utf8"), scheme)
    else:
        fid = src.get("file_id")
        need(isinstance(fid, str), endpoint, f"{dotted(p)}.file_id is not a string")
        assert isinstance(fid, str)
        file_ref(c, fid, dotted(p))
