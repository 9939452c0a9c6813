"""Issue 3 acceptance, Gemini API: the real google-genai SDK through a real `phiwall run` process to a fake
Gemini server. A DICOM, an X-ray PNG and a PHI prompt (inline, and as File API uploads) are stopped with the SDK
raising its normal ClientError carrying phiwall's message; a benign request reaches the server unchanged.
google-genai sends inline bytes as URL-safe base64 (spec §10), so these tests also prove that alphabet is decoded."""

from __future__ import annotations

import io
import json
import ssl

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.support import fakes_google
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN
from tests.support.samples import PHI_NOTE
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import xray_png

pytestmark = pytest.mark.e2e
MODEL = "gemini-2.5-flash"


@pytest.fixture
def up(fresh_upstream: FakeUpstream) -> FakeUpstream:
    fakes_google.install(fresh_upstream)
    return fresh_upstream


_CLIENTS: list[genai.Client] = []


def client(proxy: ProxyProcess, sent: list[bytes] | None = None) -> genai.Client:
    """google-genai closes its httpx client when the Client object is collected, so keep every one alive. With
    `sent`, every request body the SDK puts on the wire is recorded (httpx event hook)."""
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    args: dict[str, object] = {"proxy": proxy.url, "verify": ctx}
    if sent is not None:
        args["event_hooks"] = {"request": [lambda r: sent.append(r.read())]}
    opts = types.HttpOptions(client_args=args, timeout=60_000)
    c = genai.Client(api_key="test-key", http_options=opts)
    _CLIENTS.append(c)
    return c


def _blocked(ei: pytest.ExceptionInfo[genai_errors.ClientError]) -> str:
    err = ei.value
    assert err.code == 403, err
    assert err.status == "PERMISSION_DENIED"
    assert "phiwall blocked" in (err.message or "")
    return err.message or ""


def test_benign_generate_content_reaches_server_unchanged(proxy: ProxyProcess, up: FakeUpstream) -> None:
    sent: list[bytes] = []
    r = client(proxy, sent).models.generate_content(model=MODEL, contents=BENIGN)
    assert r.text == fakes_google.ANSWER
    assert len(up.requests) == 1 and up.requests[0].body == sent[0]  # forwarded byte for byte
    assert up.requests[0].json()["contents"][0]["parts"][0]["text"] == BENIGN
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "allow" and ev["endpoint"] == "generateContent" and ev["service"] == "gemini_api"


def test_phi_prompt_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(genai_errors.ClientError) as ei:
        client(proxy).models.generate_content(model=MODEL, contents=PHI_PROMPT)
    msg = _blocked(ei)
    assert "John" not in msg and "48213977" not in msg
    assert up.requests == []


def test_phi_in_system_instruction_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    cfg = types.GenerateContentConfig(system_instruction="Context: " + PHI_PROMPT)
    with pytest.raises(genai_errors.ClientError) as ei:
        client(proxy).models.generate_content(model=MODEL, contents=BENIGN, config=cfg)
    _blocked(ei)
    assert up.requests == []


def test_inline_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    part = types.Part.from_bytes(data=dicom_bytes(), mime_type="image/png")  # lies about its type
    with pytest.raises(genai_errors.ClientError) as ei:
        client(proxy).models.generate_content(model=MODEL, contents=[part, "What does this show?"])
    assert "DICOM" in _blocked(ei)
    assert up.requests == []
    assert proxy.audit_events()[-1]["entity_counts"].get("DICOM_FILE") == 1


def test_streaming_inline_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    part = types.Part.from_bytes(data=dicom_bytes(), mime_type="application/dicom")
    with pytest.raises(genai_errors.ClientError) as ei:
        list(client(proxy).models.generate_content_stream(model=MODEL, contents=[part, "Read this"]))
    _blocked(ei)
    assert up.requests == []


def test_count_tokens_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(genai_errors.ClientError) as ei:
        client(proxy).models.count_tokens(model=MODEL, contents=PHI_PROMPT)
    _blocked(ei)
    assert up.requests == []


def test_inline_xray_png_is_blocked_as_medical_image(proxy: ProxyProcess, up: FakeUpstream) -> None:
    part = types.Part.from_bytes(data=xray_png(), mime_type="image/png")
    with pytest.raises(genai_errors.ClientError) as ei:
        client(proxy).models.generate_content(model=MODEL, contents=[part, "Any fracture?"])
    _blocked(ei)
    assert up.requests == []
    ev = proxy.audit_events()[-1]
    assert "medical-image" in ev["rule_ids"] and ev["entity_counts"].get("MEDICAL_IMAGE")


def test_file_api_upload_of_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(genai_errors.APIError) as ei:
        client(proxy).files.upload(file=io.BytesIO(dicom_bytes()), config={"mime_type": "application/dicom"})
    assert "phiwall blocked" in str(ei.value) and "DICOM" in str(ei.value)
    assert [r.headers.get("x-goog-upload-command") for r in up.requests] == ["start"]  # the bytes never left


def test_file_api_upload_of_xray_png_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(genai_errors.APIError) as ei:
        client(proxy).files.upload(file=io.BytesIO(xray_png()), config={"mime_type": "image/png"})
    assert "phiwall blocked" in str(ei.value)
    assert [r.headers.get("x-goog-upload-command") for r in up.requests] == ["start"]  # the bytes never left
    ev = proxy.audit_events()[-1]
    assert ev["verdict"] == "block" and "medical-image" in ev["rule_ids"]


def test_file_api_upload_of_text_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(genai_errors.APIError) as ei:
        client(proxy).files.upload(file=io.BytesIO(PHI_NOTE.encode()), config={"mime_type": "text/plain"})
    assert "phiwall blocked" in str(ei.value) and "Jane" not in str(ei.value)
    assert [r.headers.get("x-goog-upload-command") for r in up.requests] == ["start"]


def test_file_api_upload_of_benign_text_passes(proxy: ProxyProcess, up: FakeUpstream) -> None:
    data = (BENIGN + "\n").encode() * 3
    f = client(proxy).files.upload(file=io.BytesIO(data), config={"mime_type": "text/plain"})
    assert f.name == "files/fake123"
    assert up.requests[-1].body == data
    start = json.loads(up.requests[0].body)
    assert start["file"].get("mimeType", start["file"].get("mime_type")) == "text/plain"
