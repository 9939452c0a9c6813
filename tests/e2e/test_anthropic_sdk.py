"""Issue 3 acceptance, Claude API: the real anthropic SDK through a real `phiwall run` process to a fake Claude
server. Image and document blocks carrying a DICOM or an X-ray PNG, a PHI prompt, and a DICOM, an X-ray PNG or a
text file with PHI sent with `beta.files.upload` are stopped with the SDK raising PermissionDeniedError carrying
phiwall's message; benign requests reach the server unchanged."""

from __future__ import annotations

import base64
import ssl

import anthropic
import pytest

from tests.support import fakes_anthropic
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN
from tests.support.samples import PHI_NOTE
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import xray_png

pytestmark = pytest.mark.e2e
MODEL = "claude-sonnet-4-5"


@pytest.fixture
def up(fresh_upstream: FakeUpstream) -> FakeUpstream:
    fakes_anthropic.install(fresh_upstream)
    return fresh_upstream


def client(proxy: ProxyProcess, sent: list[bytes] | None = None) -> anthropic.Anthropic:
    hooks = {"request": [lambda r: sent.append(r.read())]} if sent is not None else {}
    http = anthropic.DefaultHttpxClient(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), event_hooks=hooks, timeout=60
    )
    return anthropic.Anthropic(
        api_key="sk-ant-test", base_url="https://api.anthropic.com", http_client=http, max_retries=0
    )


def _blocked(ei: pytest.ExceptionInfo[anthropic.PermissionDeniedError]) -> str:
    err = ei.value
    assert err.status_code == 403
    body = err.body if isinstance(err.body, dict) else {}
    msg = (body.get("error") or {}).get("message", "")
    assert (body.get("error") or {}).get("type") == "permission_error"
    assert "phiwall blocked" in msg
    return msg


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_benign_message_reaches_server_byte_identical(proxy: ProxyProcess, up: FakeUpstream) -> None:
    sent: list[bytes] = []
    r = client(proxy, sent).messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": BENIGN}])
    assert r.content[0].text == fakes_anthropic.ANSWER
    assert len(up.requests) == 1 and up.requests[0].body == sent[0]
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["endpoint"] == "messages" and ev["service"] == "anthropic_api"


def test_phi_prompt_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": PHI_PROMPT}])
    msg = _blocked(ei)
    assert "John" not in msg and "48213977" not in msg
    assert up.requests == []


def test_phi_in_system_blocks_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).messages.create(
            model=MODEL,
            max_tokens=64,
            system=[{"type": "text", "text": PHI_PROMPT}],
            messages=[{"role": "user", "content": BENIGN}],
        )
    _blocked(ei)
    assert up.requests == []


def test_image_block_with_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _b64(dicom_bytes())}},
        {"type": "text", "text": "What does this show?"},
    ]
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": content}])
    assert "DICOM" in _blocked(ei)
    assert up.requests == []


def test_document_block_with_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    content = [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": _b64(dicom_bytes())},
            "title": "report",
        },
        {"type": "text", "text": "Summarise"},
    ]
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": content}])
    assert "DICOM" in _blocked(ei)
    assert up.requests == []


def test_plain_text_document_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    content = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": PHI_NOTE}},
        {"type": "text", "text": "Summarise"},
    ]
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": content}])
    _blocked(ei)
    assert up.requests == []


def test_image_block_with_xray_png_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": _b64(xray_png())}},
        {"type": "text", "text": "Any fracture?"},
    ]
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).messages.create(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": content}])
    _blocked(ei)
    assert up.requests == []
    assert "medical-image" in proxy.audit_events()[-1]["rule_ids"]


def test_files_upload_of_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).beta.files.upload(file=("ct.dcm", dicom_bytes(), "application/dicom"))
    assert "DICOM" in _blocked(ei)
    assert up.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["endpoint"] == "files.create" and ev["endpoint_kind"] == "upload"


def test_files_upload_of_xray_png_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).beta.files.upload(file=("chest.png", xray_png(), "image/png"))
    _blocked(ei)
    assert up.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["endpoint"] == "files.create" and "medical-image" in ev["rule_ids"]


def test_files_upload_of_text_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(anthropic.PermissionDeniedError) as ei:
        client(proxy).beta.files.upload(file=("discharge.txt", PHI_NOTE.encode(), "text/plain"))
    msg = _blocked(ei)
    assert "Jane" not in msg and "55120934" not in msg
    assert up.requests == []


def test_files_upload_of_benign_text_passes(proxy: ProxyProcess, up: FakeUpstream) -> None:
    sent: list[bytes] = []
    f = client(proxy, sent).beta.files.upload(file=("notes.txt", BENIGN.encode(), "text/plain"))
    assert f.id == "file_fake01"
    assert len(up.requests) == 1 and up.requests[0].body == sent[0]  # forwarded byte for byte
