"""Issue 13 item 6 through a real `phiwall run` and the real openai SDK: a block the policy lets be justified
says how; resending with '#phiwall-justify: <reason>' (or the X-Phiwall-Justify header) forwards the request
without the marker or the header, other rules still apply, and the audit records the reason (PHI-checked) and the
overridden rules."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.factories import make_dicom
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

POLICIES = Path(__file__).with_name("policies")
PHI = "Patient John Smith, MRN 48213977, has a cough. What could it be?"
REASON = "synthetic record from the teaching file, no real patient"


@pytest.fixture
def proxy(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    return proxy_factory(POLICIES / "justify.yaml")


def client(proxy: ProxyProcess) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def test_block_message_offers_justification(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PHI}])
    assert "#phiwall-justify:" in str(ei.value) and "X-Phiwall-Justify" in str(ei.value)
    assert fresh_upstream.requests == []


def test_justified_message_is_forwarded_without_the_marker(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    r = client(proxy).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": f"#phiwall-justify: {REASON}\n{PHI}"}]
    )
    assert r.choices[0].message.content == "Fake answer."
    sent = fresh_upstream.requests[0].json()
    assert sent["messages"][0]["content"] == PHI  # marker line gone, the rest as written
    assert "phiwall" not in fresh_upstream.requests[0].body.decode()
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["applied"] == "allow"
    assert ev["justification"] == {
        "source": "message",
        "overridden": ["phi-text"],
        "length": len(REASON),
        "reason": REASON,
    }
    assert "John" not in json.dumps(ev) and "48213977" not in json.dumps(ev)


def test_justify_header_for_api_clients(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    r = client(proxy).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PHI}],
        extra_headers={"X-Phiwall-Justify": REASON},
    )
    assert r.choices[0].message.content == "Fake answer."
    rec = fresh_upstream.requests[0]
    assert "x-phiwall-justify" not in rec.headers and rec.json()["messages"][0]["content"] == PHI
    ev = proxy.audit_events()[-1]
    assert ev["justification"]["source"] == "header" and ev["justification"]["overridden"] == ["phi-text"]


def test_justification_holding_phi_is_digested(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    client(proxy).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PHI}],
        extra_headers={"X-Phiwall-Justify": "Dr. Jane Miller approved it"},
    )
    ev = proxy.audit_events()[-1]
    assert "reason" not in ev["justification"] and "PERSON" in ev["justification"]["reason_entities"]
    assert "Jane" not in proxy.audit.read_text()


def test_other_rules_still_apply(proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    # A rule without override still blocks, and the message no longer offers a justification.
    dcm = base64.b64encode(make_dicom()).decode()
    content = [
        {"type": "text", "text": f"#phiwall-justify: {REASON}\n{PHI}"},
        {"type": "file", "file": {"filename": "ct.dcm", "file_data": f"data:application/dicom;base64,{dcm}"}},
    ]
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": content}])
    assert "#phiwall-justify:" not in str(ei.value)
    assert fresh_upstream.requests == []
    assert proxy.audit_events()[-1]["rule_ids"] == ["dicom-file"]
    # A warn rule still warns on a justified request.
    raw = client(proxy).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": f"#phiwall-justify: {REASON}\n{PHI} DOB 03/14/1961."}],
    )
    assert raw.headers["x-phiwall-verdict"] == "warn"
    assert (raw.parse().choices[0].message.content or "").startswith("⚠️ phiwall")
