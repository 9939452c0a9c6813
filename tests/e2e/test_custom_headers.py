"""Issue 13 (smaller gaps): PHI in a custom request header (`X-Patient: …`) to a guarded host is inspected as
text, through a real `phiwall run` and the real openai SDK; standard and SDK headers are not (the SDK's own
requests still pass byte for byte), and the audit names the header by position, not by its name or value."""

from __future__ import annotations

import json

import openai
import pytest
from phiwall.headers import header_parts
from phiwall.headers import inspected

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

BENIGN = "What does a TSH of 6.2 mIU/L usually mean?"


def client(proxy: ProxyProcess) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def test_phi_in_a_custom_header_is_blocked(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": BENIGN}],
            extra_headers={"X-Patient": "John Smith, MRN 48213977, DOB 03/14/1961"},
        )
    assert "phiwall blocked" in str(ei.value) and "John" not in str(ei.value)
    assert fresh_upstream.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "block"
    dumped = json.dumps(ev)
    assert "John" not in dumped and "x-patient" not in dumped.lower()
    assert any(p.get("where") == "header:0" for p in ev.get("parts", [])), ev.get("parts")


def test_benign_custom_header_and_sdk_headers_pass(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    r = client(proxy).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": BENIGN}], extra_headers={"X-Team": "radiology"}
    )
    assert r.choices[0].message.content == "Fake answer."
    assert fresh_upstream.requests[0].headers["x-team"] == "radiology"


@pytest.mark.parametrize(
    ("name", "yes"),
    [
        ("X-Patient", True),
        ("X-Notes", True),
        ("Patient-Name", True),
        ("Authorization", False),
        ("Cookie", False),
        ("User-Agent", False),
        ("X-Stainless-Lang", False),
        ("anthropic-version", False),
        ("x-goog-api-client", False),
        ("OAI-Device-Id", False),
        ("Sec-Fetch-Mode", False),
        ("If-None-Match", False),
        ("X-Phiwall-Justify", False),
        ("traceparent", False),
    ],
)
def test_which_headers_are_inspected(name: str, yes: bool) -> None:
    assert inspected(name) is yes


def test_header_parts_are_positional_text_parts() -> None:
    parts = header_parts([("X-Patient", "John Smith"), ("Accept", "*/*"), ("X-Notes", " ")], taken=["header-0"])
    assert [(p.id, p.text, p.locator.audit_where()) for p in parts] == [("header-0'", "John Smith", "header:0")]
    assert parts[0].not_rewritable  # a de-identify plan blocks with a reason instead of forwarding it
