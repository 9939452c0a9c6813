"""Which hosts are chatbot services, and which adapter takes their requests apart.

Every service has exactly one row here: its hosts (globs) decide TLS interception (mitmproxy `allow_hosts`),
and its adapter knows the request shapes. Hosts not listed pass through uninspected and unintercepted.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from dataclasses import dataclass
from functools import cache

from phiwall.extractors.base import Adapter


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    title: str  # what a person calls it, used in messages
    hosts: tuple[str, ...]  # host globs
    adapter: str  # "module:Class"
    error_style: str  # how a block answer must look for this service's clients (see phiwall.responses)
    # When set, only request paths matching this regex are inspected; the adapter answers every other path with
    # an empty "passthrough" envelope (x.com: only Grok is guarded, the rest of X is not phiwall's business).
    inspect_paths: str | None = None


SERVICES: tuple[Service, ...] = (
    Service(
        "openai_api",
        "the OpenAI API",
        (
            "api.openai.com",
            "us.api.openai.com",
            "eu.api.openai.com",
            "ae.api.openai.com",
            "mtls.api.openai.com",
            "*.openai.azure.com",
            "*.cognitiveservices.azure.com",
        ),
        "phiwall.extractors.openai_api:OpenAIAdapter",
        "openai",
    ),
    Service(
        "chatgpt_web",
        "ChatGPT",
        ("chatgpt.com", "chat.openai.com", "*.chatgpt.com"),
        "phiwall.extractors.chatgpt_web:ChatGPTWebAdapter",
        "chatgpt",
    ),
    # Where ChatGPT PUTs the bytes: the signed `upload_url` of the registration response. Only the one Azure
    # storage account ChatGPT uses is intercepted, never *.blob.core.windows.net (docs/deployment.md).
    Service(
        "chatgpt_files",
        "ChatGPT file storage",
        ("*.oaiusercontent.com", "fileserviceuploadsperm.blob.core.windows.net"),
        "phiwall.extractors.chatgpt_web:ChatGPTFilesAdapter",
        "azure_blob",
    ),
    Service(
        "gemini_api",
        "the Gemini API",
        (
            "generativelanguage.googleapis.com",
            "generativelanguage.mtls.googleapis.com",
            "aiplatform.googleapis.com",
            "*-aiplatform.googleapis.com",
            "aiplatform.*.rep.googleapis.com",
            "*-aiplatform.mtls.googleapis.com",
        ),
        "phiwall.extractors.gemini_api:GeminiAPIAdapter",
        "google",
    ),
    Service(
        "gemini_web", "Gemini", ("gemini.google.com",), "phiwall.extractors.gemini_web:GeminiWebAdapter", "generic"
    ),
    # The Gemini web app's upload hosts (multipart, or resumable start / upload, finalize).
    Service(
        "gemini_upload",
        "Gemini file upload",
        ("content-push.googleapis.com", "push.clients6.google.com"),
        "phiwall.extractors.gemini_upload:GeminiUploadAdapter",
        "google",
    ),
    # REST (OpenAI-compatible) and gRPC (the native xai-sdk) on one host: the adapter tells them apart.
    Service("xai_api", "the xAI API", ("api.x.ai",), "phiwall.extractors.grpc:XaiAdapter", "openai"),
    Service("grok_web", "Grok", ("grok.com", "*.grok.com"), "phiwall.extractors.grok_web:GrokWebAdapter", "generic"),
    # Only POST/PUT bodies under /i/api/2/grok/ (or /2/grok/) are inspected; other X traffic is allowed untouched
    # (the adapter answers "passthrough" without parts): see docs/decisions.md "x.com: only Grok paths".
    Service(
        "x_grok",
        "Grok on X",
        ("x.com", "api.x.com", "grok.x.com", "twitter.com", "api.twitter.com"),
        "phiwall.extractors.grok_web:XGrokAdapter",
        "x",
        r"^(?:/i/api)?/2/grok/",
    ),
    Service(
        "anthropic_api",
        "the Claude API",
        (
            "api.anthropic.com",
            "bedrock-runtime.*.amazonaws.com",
            "bedrock-runtime-fips.*.amazonaws.com",
            "*.services.ai.azure.com",
            "claude.googleapis.com",
        ),
        "phiwall.extractors.anthropic_api:AnthropicAdapter",
        "anthropic",
    ),
    Service(
        "claude_web",
        "Claude",
        ("claude.ai", "*.claude.ai"),
        "phiwall.extractors.claude_web:ClaudeWebAdapter",
        "anthropic",
    ),
    # Host-less rows: route() never returns them and allow_hosts gets nothing from them. The addon picks them by
    # request shape on any guarded host; their adapters report the host's own service name in the envelope.
    Service("grpc", "a gRPC API", (), "phiwall.extractors.grpc:GrpcAdapter", "grpc"),
    Service("websocket", "a chatbot WebSocket", (), "phiwall.extractors.websocket:WebSocketAdapter", "generic"),
    Service(
        "gemini_api_upload", "the Gemini File API", (), "phiwall.extractors.gemini_upload:GeminiUploadAdapter", "google"
    ),
    Service(
        "openai_uploads",
        "the OpenAI Uploads API",
        (),
        "phiwall.extractors.openai_uploads:OpenAIUploadsAdapter",
        "openai",
    ),
)

SERVICE_NAMES = frozenset(s.name for s in SERVICES)


@cache
def _host_regex(globs: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs), re.IGNORECASE)


def route(host: str, services: tuple[Service, ...] = SERVICES) -> Service | None:
    """The service a host belongs to, or None when phiwall must leave the connection alone."""
    host = host.rstrip(".").lower()
    for s in services:
        if s.hosts and _host_regex(s.hosts).fullmatch(host):
            return s
    return None


@cache
def _path_regex(rx: str) -> re.Pattern[str]:
    return re.compile(rx)


def route_request(host: str, path: str) -> Service | None:
    """Like `route`, but also None for paths a service leaves alone (`inspect_paths`): on x.com only Grok's
    endpoints are phiwall's business, so the rest of X streams through without buffering or inspection."""
    service = route(host)
    if service is not None and service.inspect_paths:
        if not _path_regex(service.inspect_paths).search(path.split("?", 1)[0]):
            return None
    return service


def service_by_name(name: str) -> Service | None:
    return next((s for s in SERVICES if s.name == name), None)


def allow_hosts_pattern(services: tuple[Service, ...] = SERVICES) -> str:
    """A mitmproxy `allow_hosts` regex (matched against "host:port") covering every guarded host."""
    parts = []
    for s in services:
        for g in s.hosts:
            rx = re.escape(g).replace(r"\*", r"[^:]*")
            parts.append(rx)
    return r"^(?:" + "|".join(parts) + r")(?::\d+)?$"


@cache
def adapter_for(service: Service) -> Adapter:
    module, cls = service.adapter.split(":")
    factory = getattr(importlib.import_module(module), cls)
    return factory(service.name)  # type: ignore[no-any-return]


def hostless_service(name: str) -> Service:
    """A service row with no hosts of its own (gRPC, WebSocket, upload protocols): picked by request shape."""
    s = service_by_name(name)
    if s is None:
        raise KeyError(f"no service row named {name!r}")
    return s
