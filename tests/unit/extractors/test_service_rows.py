"""The SERVICES rows of the adapter half: each host routes to its service, adapter and error style, and the
mitmproxy allow_hosts pattern intercepts exactly those hosts."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
from phiwall.extractors import SERVICES
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


def _concrete_host(service_name: str) -> str:
    s = next(s for s in SERVICES if s.name == service_name)
    return next(h for h in s.hosts if "*" not in h)


_HOSTED = [s.name for s in SERVICES if s.hosts]


@pytest.mark.parametrize("service", _HOSTED)
@pytest.mark.parametrize(
    "ctype",
    ["multipart/form-data; boundary={b}", "multipart/form-data", "application/json", ""],
    ids=["declared", "boundary-lost", "lying-type", "no-type"],
)
def test_unknown_endpoint_multipart_upload_is_taken_apart(service: str, ctype: str) -> None:
    """Every service's fallback for a path its table does not know (a new upload endpoint) finds the DICOM inside a
    multipart body, whatever the Content-Type says: the body is never judged as one opaque blob."""
    from tests.support.samples import dicom_bytes
    from tests.support.samples import multipart
    from tests.support.samples import request

    body, real = multipart([("attachment", "scan.bin", "application/octet-stream", dicom_bytes())])
    header = ctype.format(b=real.split("boundary=", 1)[1])
    path = "/i/api/2/grok/new-upload.json" if service == "x_grok" else "/phiwall-unknown/new-upload"
    host = _concrete_host(service)
    s = route(host)
    assert s is not None and s.name == service
    env = adapter_for(s).extract(request("POST", host, path, body, header), body)
    assert any(p.media_type == "application/dicom" for p in env.parts), (service, env.endpoint, env.notes)


_STYLES = {
    # error style → how its clients read our message out of the block answer (docs/services.md)
    "openai": lambda a: json.loads(a.body)["error"]["message"],
    "generic": lambda a: json.loads(a.body)["error"]["message"],
    "chatgpt": lambda a: json.loads(a.body)["detail"],
    "anthropic": lambda a: json.loads(a.body)["error"]["message"],
    "google": lambda a: json.loads(a.body)["error"]["message"],
    "x": lambda a: json.loads(a.body)["errors"][0]["message"],
    "azure_blob": lambda a: ElementTree.fromstring(a.body).findtext("Message"),
    "grpc": lambda a: unquote(a.headers["grpc-message"]),
}


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_every_service_has_a_block_answer_its_client_reads(service: str) -> None:
    """No service falls into a shape its client cannot read: each row's error style is one responses.py builds
    on purpose, and the message (with the incident id) is where that client looks for it."""
    from phiwall.responses import block_answer

    style = next(s for s in SERVICES if s.name == service).error_style
    assert style in _STYLES, f"{service}: unknown error style {style!r}"
    a = block_answer(style, "phiwall blocked this <test> & more", incident="abc123", rule_ids=("r1",))
    assert a.headers["x-phiwall-verdict"] == "block"
    assert _STYLES[style](a) == "phiwall blocked this <test> & more (phiwall incident abc123)"
    if style != "grpc":
        assert a.status == 403
        if style == "azure_blob":
            assert a.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    else:
        assert a.status == 200 and a.headers["grpc-status"] == "7" and a.body == b""
