"""Issue 3 acceptance, OpenAI API: the Responses API and files.create (a DICOM, an X-ray PNG and PHI each stopped
with PermissionDeniedError carrying phiwall's message, a benign request forwarded byte for byte), plus images.edit
(multipart `image`), assistants thread messages and batch JSONL files, through the real openai SDK and a real
`phiwall run` process. Chat completions are in test_openai_sdk.py (issue 2) and test_images_e2e.py (X-ray);
the Uploads API is in test_resumable.py."""

from __future__ import annotations

import base64
import json
import ssl

import openai
import pytest

from tests.support import fakes_openai_more
from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import openai_files
from tests.support.fake_upstream import openai_responses
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN
from tests.support.samples import PHI_NOTE
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import xray_png

pytestmark = pytest.mark.e2e


@pytest.fixture
def up(fresh_upstream: FakeUpstream) -> FakeUpstream:
    fakes_openai_more.install(fresh_upstream)
    # The session's fake server is shared: other modules install a Claude-shaped `/v1/files`; answer as OpenAI.
    fresh_upstream.route("POST", r"^/v1/files$", openai_files)
    fresh_upstream.route("POST", r"^/v1/responses$", openai_responses)
    return fresh_upstream


def client(proxy: ProxyProcess, sent: list[bytes] | None = None) -> openai.OpenAI:
    """The SDK through the proxy; with `sent`, every request body the SDK puts on the wire is recorded, so a test
    can compare it with what the fake server received."""
    hooks = {"request": [lambda r: sent.append(r.read())]} if sent is not None else {}
    http = openai.DefaultHttpxClient(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca)), event_hooks=hooks, timeout=60
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


def test_images_edit_with_xray_png_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).images.edit(model="gpt-image-1", image=("xray.png", xray_png(), "image/png"), prompt="Annotate")
    _blocked(ei)
    assert up.requests == []
    assert "medical-image" in proxy.audit_events()[-1]["rule_ids"]


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


# -- Responses API ----------------------------------------------------------------------------------------------


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def _responses(proxy: ProxyProcess, *content: dict, sent: list[bytes] | None = None) -> object:
    return client(proxy, sent).responses.create(model="gpt-4o", input=[{"role": "user", "content": list(content)}])


def test_responses_with_phi_prompt_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        _responses(proxy, {"type": "input_text", "text": PHI_PROMPT})
    msg = _blocked(ei)
    assert "John" not in msg and "48213977" not in msg
    assert up.requests == []
    assert proxy.audit_events()[-1]["endpoint"] == "responses"


def test_responses_input_image_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        _responses(
            proxy,
            {"type": "input_text", "text": "What does this show?"},
            {"type": "input_image", "image_url": _data_url("image/png", dicom_bytes()), "detail": "high"},
        )
    assert "DICOM" in _blocked(ei)
    assert up.requests == []


def test_responses_input_image_xray_png_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        _responses(
            proxy,
            {"type": "input_text", "text": "Any fracture?"},
            {"type": "input_image", "image_url": _data_url("image/png", xray_png()), "detail": "auto"},
        )
    _blocked(ei)
    assert up.requests == []
    assert "medical-image" in proxy.audit_events()[-1]["rule_ids"]


def test_responses_benign_reaches_server_byte_identical(proxy: ProxyProcess, up: FakeUpstream) -> None:
    sent: list[bytes] = []
    r = _responses(proxy, {"type": "input_text", "text": BENIGN}, sent=sent)
    assert r.output_text == "Fake answer."  # type: ignore[attr-defined]
    assert len(up.requests) == 1 and up.requests[0].body == sent[0]
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["endpoint"] == "responses"


# -- files.create -------------------------------------------------------------------------------------------------


def test_files_create_xray_png_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).files.create(file=("chest.png", xray_png(), "image/png"), purpose="vision")
    _blocked(ei)
    assert up.requests == []
    ev = proxy.audit_events()[-1]
    assert ev["endpoint"] == "files.create" and "medical-image" in ev["rule_ids"]


def test_files_create_text_file_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client(proxy).files.create(file=("discharge.txt", PHI_NOTE.encode(), "text/plain"), purpose="user_data")
    msg = _blocked(ei)
    assert "Jane" not in msg and "55120934" not in msg
    assert up.requests == []


def test_files_create_benign_reaches_server_byte_identical(proxy: ProxyProcess, up: FakeUpstream) -> None:
    sent: list[bytes] = []
    f = client(proxy, sent).files.create(
        file=("hours.txt", b"Clinic opening hours: Mon-Fri 8-17.\n", "text/plain"), purpose="user_data"
    )
    assert f.id == "file-fake"
    assert len(up.requests) == 1 and up.requests[0].body == sent[0]
    assert proxy.audit_events()[-1]["verdict"] == "allow"
