"""The SERVICES rows of the adapter half: each host routes to its service, adapter and error style, and the
mitmproxy allow_hosts pattern intercepts exactly those hosts."""

from __future__ import annotations

import re

import pytest
from phiwall.extractors import adapter_for
from phiwall.extractors import allow_hosts_pattern
from phiwall.extractors import route


@pytest.mark.parametrize(
    "host,service,adapter,style",
    [
        ("api.openai.com", "openai_api", "OpenAIAdapter", "openai"),
        ("myres.openai.azure.com", "openai_api", "OpenAIAdapter", "openai"),
        ("generativelanguage.googleapis.com", "gemini_api", "GeminiAPIAdapter", "google"),
        ("us-central1-aiplatform.googleapis.com", "gemini_api", "GeminiAPIAdapter", "google"),
        ("aiplatform.googleapis.com", "gemini_api", "GeminiAPIAdapter", "google"),
        ("aiplatform.eu.rep.googleapis.com", "gemini_api", "GeminiAPIAdapter", "google"),
        ("gemini.google.com", "gemini_web", "GeminiWebAdapter", "generic"),
        ("grok.com", "grok_web", "GrokWebAdapter", "generic"),
        ("x.com", "x_grok", "XGrokAdapter", "x"),
        ("api.x.com", "x_grok", "XGrokAdapter", "x"),
        ("grok.x.com", "x_grok", "XGrokAdapter", "x"),
        ("api.anthropic.com", "anthropic_api", "AnthropicAdapter", "anthropic"),
        ("bedrock-runtime.us-east-1.amazonaws.com", "anthropic_api", "AnthropicAdapter", "anthropic"),
        ("myres.services.ai.azure.com", "anthropic_api", "AnthropicAdapter", "anthropic"),
        ("claude.googleapis.com", "anthropic_api", "AnthropicAdapter", "anthropic"),
        ("claude.ai", "claude_web", "ClaudeWebAdapter", "anthropic"),
    ],
)
def test_host_routes_to_service(host: str, service: str, adapter: str, style: str) -> None:
    s = route(host)
    assert s is not None and s.name == service and s.error_style == style
    assert type(adapter_for(s)).__name__ == adapter
    assert re.match(allow_hosts_pattern(), f"{host}:443")


@pytest.mark.parametrize("host", ["example.com", "google.com", "s3.amazonaws.com", "mail.google.com", "notx.com"])
def test_other_hosts_are_not_guarded(host: str) -> None:
    assert route(host) is None
    assert not re.match(allow_hosts_pattern(), f"{host}:443")


def test_route_request_leaves_non_grok_x_paths_alone() -> None:
    from phiwall.extractors import route_request

    assert route_request("x.com", "/i/api/2/grok/add_response.json").name == "x_grok"  # type: ignore[union-attr]
    assert route_request("x.com", "/i/api/graphql/abc/HomeTimeline?variables=1") is None
    assert route_request("api.openai.com", "/v1/anything").name == "openai_api"  # type: ignore[union-attr]
