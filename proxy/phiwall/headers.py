"""Request headers as content: a custom header to a guarded host (`X-Patient: John Smith`) is text the service
receives, so it is inspected like the body's text.

Which headers: every header except the ones HTTP, browsers, the vendors' SDKs and tracing systems define (their
values are protocol data, credentials or ids, never something a person typed), phiwall's own `X-Phiwall-*`
headers (removed before forwarding) and the identity headers an authenticating proxy sets (left out of the
request snapshot by the addon). Each inspected header becomes a text part at `header:<n>` (its position among
the inspected headers: a header's name is chosen by the client, so it is not written to the audit). A header
part has no way back into the request: a policy that would de-identify it blocks instead, saying so.
"""

from __future__ import annotations

from collections.abc import Sequence

from phiwall.model import Locator
from phiwall.model import Part
from phiwall.model import PartKind

# Exact names (lowercase) whose values are protocol data, credentials or ids.
STANDARD = frozenset(
    {
        "host", ":authority", ":method", ":path", ":scheme", "authorization", "proxy-authorization", "cookie",
        "user-agent", "accept", "accept-encoding", "accept-language", "accept-charset", "connection", "keep-alive",
        "content-type", "content-length", "content-encoding", "content-disposition", "content-language",
        "content-md5", "content-range", "transfer-encoding", "te", "trailer", "origin", "referer", "cache-control",
        "pragma", "priority", "dnt", "upgrade", "expect", "range", "date", "via", "forwarded", "x-forwarded-for",
        "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-real-ip", "x-api-key", "api-key",
        "x-request-id", "x-client-request-id", "request-id", "x-correlation-id", "traceparent", "tracestate",
        "baggage", "idempotency-key", "x-csrf-token", "x-xsrf-token", "x-requested-with", "purpose",
        "upgrade-insecure-requests", "x-client-data", "x-same-domain", "x-server-timeout", "x-user-agent",
        "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "grpc-message-type", "x-session-id",
        "x-conversation-id", "x-device-id", "authority", "x-http-method-override", "access-control-request-method",
        "access-control-request-headers", "x-mitmproxy", "x-github-api-version", "x-trace-id", "x-span-id",
    }
)  # fmt: skip
# Name prefixes of the same kinds: fetch metadata, conditional requests, the services' and SDKs' own headers,
# cloud and tracing vendors, phiwall's own.
PREFIXES = (
    "sec-", "if-", "x-stainless-", "openai-", "x-openai-", "oai-", "anthropic-", "x-anthropic-", "x-goog-",
    "x-google-", "x-xai-", "x-grok-", "x-statsig-", "statsig-", "x-ms-", "x-amz-", "x-azure-", "x-datadog-",
    "x-b3-", "x-cloud-trace", "x-newrelic", "newrelic", "sentry-", "x-sentry", "cf-", "x-vercel-", "x-phiwall-",
    "x-envoy-", "x-client-", "x-app-", "x-build-", "x-api-", "grpc-", "x-upload-", "x-tus-", "tus-", "upload-",
    "x-firebase", "x-signal", "x-guest-", "x-csrf", "x-xsrf", "x-oai-", "x-ratelimit", "x-device-",
)  # fmt: skip


def inspected(name: str) -> bool:
    """Whether a request header's value is inspected as text (a custom header, not a standard or vendor one)."""
    low = name.strip().lower()
    return bool(low) and low not in STANDARD and not low.startswith(PREFIXES)


def header_parts(headers: Sequence[tuple[str, str]], taken: Sequence[str] = ()) -> tuple[Part, ...]:
    """Text parts for the inspected headers' values (ids `header-<n>`, unique against `taken`)."""
    out: list[Part] = []
    used = set(taken)
    for name, value in headers:
        if not inspected(name) or not value.strip():
            continue
        n = len(out)
        pid = f"header-{n}"
        while pid in used:
            pid += "'"
        used.add(pid)
        out.append(Part(pid, PartKind.TEXT, Locator("header", (n,), "text"), text=value))
    return tuple(out)
