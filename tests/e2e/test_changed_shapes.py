"""Issue 3, "unknown shapes fail safe", through a real `phiwall run` process: a known endpoint whose body no longer
has the recorded shape (the web apps change without notice) is not forwarded; the person gets the policy's
on_error answer (default block, 422) in the service's own error shape, and the audit event names the endpoint (in
its `endpoint` field and at the start of `error`) and the path, so a changed protocol shows up in the logs instead
of leaking. An endpoint no adapter knows goes through the generic adapter: a DICOM in it is still found, a benign
body is forwarded."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import pytest

from tests.e2e.test_web_flows import blocked_message
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.samples import dicom_bytes
from tests.support.samples import multipart

pytestmark = pytest.mark.e2e

SG = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
CHANGED = [
    # (url, content type, body, endpoint named in the audit event)
    (
        f"https://gemini.google.com{SG}",
        "application/x-www-form-urlencoded",
        b"f.req=%5B1%2C%22%5B%5D%22%5D",
        "StreamGenerate",
    ),
    (
        "https://claude.ai/api/organizations/o1/chat_conversations/c1/completion",
        "application/json",
        json.dumps({"prompt": {"parts": ["Patient John Smith"]}}).encode(),
        "completion",
    ),
    (
        "https://grok.com/rest/app-chat/upload-file",
        "application/json",
        json.dumps({"fileName": "scan.png", "fileMimeType": "image/png", "blob": "AAAA"}).encode(),
        "upload.legacy",
    ),
    (
        "https://x.com/i/api/2/grok/add_response.json",
        "text/plain;charset=UTF-8",
        json.dumps({"responses": {"message": "hello"}}).encode(),
        "grok.add_response",
    ),
    (
        "https://api.anthropic.com/v1/messages",
        "application/json",
        json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "s3"}}]}]}
        ).encode(),
        "messages",
    ),
    (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        "application/json",
        json.dumps({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBOR$$"}}]}]}).encode(),
        "generateContent",
    ),
    (
        "https://chatgpt.com/backend-api/f/conversation",
        "application/json",
        b'{"action": "next", "messages": [',
        "conversation",
    ),
]


@pytest.fixture(scope="module")
def http(proxy: ProxyProcess) -> httpx.Client:
    with httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), timeout=60) as c:
        yield c


@pytest.mark.parametrize(
    ("url", "ctype", "body", "endpoint"), CHANGED, ids=[c[3] + "@" + httpx.URL(c[0]).host for c in CHANGED]
)
def test_changed_shape_fails_closed_and_the_audit_names_the_endpoint(
    url: str,
    ctype: str,
    body: bytes,
    endpoint: str,
    http: httpx.Client,
    proxy: ProxyProcess,
    fresh_upstream: FakeUpstream,
) -> None:
    r = http.post(url, content=body, headers={"content-type": ctype})
    assert r.status_code == 422, r.text[:300]
    assert r.headers.get("x-phiwall-verdict") == "block"
    host = httpx.URL(url).host
    reply: dict[str, Any] = r.json()
    if host == "chatgpt.com":
        message = reply["detail"]
    elif host in ("api.anthropic.com", "claude.ai"):
        assert reply["type"] == "error" and reply["error"]["type"] == "invalid_request_error"
        message = reply["error"]["message"]
    elif host == "generativelanguage.googleapis.com":
        assert reply["error"]["status"] == "INVALID_ARGUMENT"
        message = reply["error"]["message"]
    elif host == "x.com":
        message = reply["errors"][0]["message"]
    else:
        message = reply["error"]["message"]
    assert "could not" in message.lower() or "phiwall" in message
    assert "John" not in r.text  # the answer names fields, never values
    assert fresh_upstream.requests == []  # nothing left
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "block" and ev["rule_ids"] == ["on_error"]
    assert ev["error"].startswith(endpoint + ":") or ev["error"].startswith(endpoint + " "), ev["error"]
    assert ev["endpoint"] == endpoint  # the matched table row, as a field of its own (not "unparsed")
    assert ev["path"] == httpx.URL(url).path and ev["host"] == host
    assert "John" not in json.dumps(ev)


def test_unknown_endpoint_on_a_guarded_host_goes_generic(
    http: httpx.Client, proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    """A path no matcher table lists (a new upload endpoint, say) is inspected generically, never passed."""
    body, ctype = multipart([("attachment", "scan.bin", "application/octet-stream", dicom_bytes())])
    r = http.post(
        "https://claude.ai/api/organizations/o1/new-upload-endpoint", content=body, headers={"content-type": ctype}
    )
    assert r.status_code == 403 and "DICOM" in blocked_message("claude.ai", r.json())
    assert fresh_upstream.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["endpoint"] == "generic" and ev["service"] == "claude_web" and "DICOM_FILE" in ev["entity_counts"]
    benign = json.dumps({"settings": {"theme": "dark"}}).encode()
    r = http.post(
        "https://claude.ai/api/organizations/o1/new-settings-endpoint",
        content=benign,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and fresh_upstream.requests[-1].body == benign
    assert proxy.audit_events()[-1]["endpoint"] == "generic"
