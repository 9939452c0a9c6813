"""Issue 3, out-of-band references: a request that makes the service fetch content itself (an `image_url` https
link, a Gemini `fileUri` on a signed URL, an Anthropic `url` source) carries bytes phiwall never sees. Each is a
REMOTE_REFERENCE finding that a policy can block, warn on or allow; shown through a real `phiwall run` process with
tests/e2e/policies/remote_refs.yaml (block for the Claude API, warn for the Gemini API, allow for the OpenAI API)
and the real SDKs."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.support import fakes_anthropic
from tests.support import fakes_google
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

POLICY = Path(__file__).with_name("policies") / "remote_refs.yaml"
SIGNED = "https://files.example-bucket.s3.amazonaws.com/scan.png?X-Amz-Signature=abc123&X-Amz-Expires=600"
_KEEP: list[object] = []  # google-genai closes its HTTP client when the Client is collected


@pytest.fixture
def proxy(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    return proxy_factory(POLICY)


@pytest.fixture
def up(fresh_upstream: FakeUpstream) -> FakeUpstream:
    fakes_anthropic.install(fresh_upstream)
    fakes_google.install(fresh_upstream)
    return fresh_upstream


def test_policy_blocks_a_link_to_claude(proxy: ProxyProcess, up: FakeUpstream) -> None:
    http = anthropic.DefaultHttpxClient(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)))
    client = anthropic.Anthropic(api_key="k", base_url="https://api.anthropic.com", http_client=http, max_retries=0)
    content = [{"type": "image", "source": {"type": "url", "url": SIGNED}}, {"type": "text", "text": "Read this"}]
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": content}]
        )
    assert "fetch" in str(ei.value) and "block-remote-refs-claude" in str(ei.value)
    assert "X-Amz-Signature" not in str(ei.value)  # the link itself is never echoed
    assert up.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["entity_counts"] == {"REMOTE_REFERENCE": 1} and ev["rule_ids"] == ["block-remote-refs-claude"]
    assert "abc123" not in str(ev)


def test_policy_warns_on_a_signed_file_uri_to_gemini(proxy: ProxyProcess, up: FakeUpstream) -> None:
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    c = genai.Client(
        api_key="k", http_options=types.HttpOptions(client_args={"proxy": proxy.url, "verify": ctx}, timeout=60_000)
    )
    _KEEP.append(c)
    part = types.Part.from_uri(file_uri=SIGNED, mime_type="image/png")
    r = c.models.generate_content(model="gemini-2.5-flash", contents=[part, "Describe it"])
    assert r.text is not None and len(up.requests) == 1  # forwarded
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "warn" and ev["rule_ids"] == ["warn-remote-refs-gemini"]
    assert ev["entity_counts"] == {"REMOTE_REFERENCE": 1}


def test_policy_allows_an_image_link_to_openai_and_audits_it(proxy: ProxyProcess, up: FakeUpstream) -> None:
    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)))
    client = openai.OpenAI(api_key="k", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": SIGNED}}]
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content == "Fake answer." and len(up.requests) == 1
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["entity_counts"] == {"REMOTE_REFERENCE": 1}
