"""Issue 3 acceptance, OpenAI API remainder: images.edit (multipart `image`), assistants thread messages and
batch JSONL files through the real openai SDK and a real `phiwall run` process."""

from __future__ import annotations

import json
import ssl

import openai
import pytest

from tests.support import fakes_openai_more
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import medical_image_detector_ready
from tests.support.samples import xray_png

pytestmark = pytest.mark.e2e
READY, NOT_READY_REASON = medical_image_detector_ready()


@pytest.fixture
def up(fresh_upstream: FakeUpstream) -> FakeUpstream:
    fakes_openai_more.install(fresh_upstream)
    return fresh_upstream


def client(proxy: ProxyProcess) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), timeout=60
    )
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def _blocked(ei: pytest.ExceptionInfo[openai.PermissionDeniedError]) -> str:
    assert ei.value.status_code == 403
    body = ei.value.body if isinstance(ei.value.body, dict) else {}
    assert body.get("type") == "phiwall_blocked"
    assert "phiwall blocked" in body.get("message", "")
    return str(body["message"])


def _plain_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buf, "PNG")
    return buf.getvalue()


def test_images_edit_with_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).images.edit(
            model="gpt-image-1", image=("scan.png", dicom_bytes(), "image/png"), prompt="Brighten"
        )
    assert "DICOM" in _blocked(ei)
    assert up.requests == []
    assert proxy.audit_events()[-1]["endpoint"] == "images.edits"


def test_images_edit_with_phi_prompt_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).images.edit(model="gpt-image-1", image=("a.png", _plain_png(), "image/png"), prompt=PHI_PROMPT)
    _blocked(ei)
    assert up.requests == []


@pytest.mark.xfail(not READY, reason=NOT_READY_REASON, strict=True)
def test_images_edit_with_xray_png_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).images.edit(model="gpt-image-1", image=("xray.png", xray_png(), "image/png"), prompt="Annotate")
    _blocked(ei)
    assert up.requests == []
    assert "medical-image" in proxy.audit_events()[-1]["rule_ids"]


@pytest.mark.xfail(
    not READY,
    reason="until the medical_image model exists, every PNG is on_error-blocked: " + NOT_READY_REASON,
    strict=True,
)
def test_images_edit_benign_reaches_server_unchanged(proxy: ProxyProcess, up: FakeUpstream) -> None:
    png = _plain_png()
    r = client(proxy).images.edit(model="gpt-image-1", image=("logo.png", png, "image/png"), prompt="Make it blue")
    assert r.data and r.data[0].b64_json
    assert len(up.requests) == 1 and png in up.requests[0].body
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["endpoint"] == "images.edits"


def test_assistants_message_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).beta.threads.messages.create(
            thread_id="thread_abc",
            role="user",
            content=[
                {"type": "text", "text": PHI_PROMPT},
                {"type": "image_file", "image_file": {"file_id": "file-vision123"}},
            ],
        )
    _blocked(ei)
    assert up.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["endpoint"] == "threads.messages"


def test_assistants_benign_message_passes(proxy: ProxyProcess, up: FakeUpstream) -> None:
    m = client(proxy).beta.threads.messages.create(thread_id="thread_abc", role="user", content=BENIGN)
    assert m.id == "msg_fake"
    assert len(up.requests) == 1 and up.requests[0].json()["content"] == BENIGN


def test_batch_jsonl_with_phi_in_a_line_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
        }
        for i, text in enumerate([BENIGN, PHI_PROMPT])
    ]
    jsonl = "\n".join(json.dumps(x) for x in lines).encode()
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).files.create(file=("batch.jsonl", jsonl, "application/jsonl"), purpose="batch")
    _blocked(ei)
    assert up.requests == []
