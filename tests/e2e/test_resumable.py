"""Issue 3 acceptance, multi-request uploads through a real `phiwall run` process: google-genai's File API
(resumable protocol), the 8-chunk case (DICOM magic in chunk 1, the patient's name only in chunk 7), and the
OpenAI Uploads API with the real openai SDK (parts, then complete)."""

from __future__ import annotations

import io
import json
import math
import ssl
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.factories import make_dicom
from tests.support.fake_upstream import FakeUpstream
from tests.support.fake_upstream import Recorded
from tests.support.proxy import ProxyProcess
from tests.support.samples import dicom_bytes

pytestmark = pytest.mark.e2e

POLICIES = Path(__file__).with_name("policies")
API = "https://generativelanguage.googleapis.com"
_KEEP: list[object] = []  # google-genai closes its HTTP client when the Client is collected


def google_upload(req: Recorded) -> tuple[int, dict[str, str], bytes]:
    """The File API's resumable protocol: start → X-Goog-Upload-URL; upload → active; upload, finalize → File."""
    cmd = req.headers.get("x-goog-upload-command", "")
    if "start" in cmd:
        url = f"{API}/upload/v1beta/files?upload_id={uuid.uuid4().hex}&upload_protocol=resumable"
        return 200, {"x-goog-upload-url": url, "x-goog-upload-status": "active"}, b""
    if "finalize" in cmd:
        file = {
            "file": {
                "name": "files/fake0001abcd",
                "uri": f"{API}/v1beta/files/fake0001abcd",
                "state": "ACTIVE",
                "mimeType": "application/octet-stream",
                "sizeBytes": "1",
            }
        }
        return 200, {"x-goog-upload-status": "final", "content-type": "application/json"}, json.dumps(file).encode()
    return 200, {"x-goog-upload-status": "active"}, b""


@pytest.fixture
def up(fresh_upstream: FakeUpstream) -> FakeUpstream:
    fresh_upstream.route("POST", r"^/upload/v1(?:beta)?/files$", google_upload)
    return fresh_upstream


def gclient(proxy: ProxyProcess) -> genai.Client:
    ctx = ssl.create_default_context(cafile=str(proxy.ca))
    c = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(client_args={"proxy": proxy.url, "verify": ctx}, timeout=60_000),
    )
    _KEEP.append(c)
    return c


def test_genai_file_upload_of_dicom_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    with pytest.raises(genai_errors.ClientError) as ei:
        gclient(proxy).files.upload(file=io.BytesIO(dicom_bytes()), config={"mime_type": "application/dicom"})
    assert ei.value.code == 403 and "DICOM" in (ei.value.message or "")
    assert "Smith" not in (ei.value.message or "")
    # Only the metadata-only start request left; the bytes never did.
    assert [r.headers.get("x-goog-upload-command") for r in up.requests] == ["start"]


def test_genai_benign_upload_passes(proxy: ProxyProcess, up: FakeUpstream) -> None:
    data = b"Clinic opening hours: Mon-Fri 8-17.\n"
    f = gclient(proxy).files.upload(file=io.BytesIO(data), config={"mime_type": "text/plain"})
    assert f.name == "files/fake0001abcd"
    assert up.requests[-1].body == data


# -- the 8-chunk acceptance case --------------------------------------------------------------------------------


def dicom_with_name_in_chunk(chunk_index: int = 6, chunks: int = 8) -> tuple[bytes, int]:
    """A DICOM whose preamble/DICM is in chunk 0 and whose PatientName value lies only in `chunk_index`."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(make_dicom(patient_name="Smith^John", patient_id=None)))
    ds.private_block(0x0009, "PHIWALL FILLER", create=True).add_new(0x01, "OB", b"\0" * 20000)
    ds.private_block(0x0029, "PHIWALL TRAILER", create=True).add_new(0x01, "OB", b"\0" * 6000)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    size = math.ceil(len(data) / chunks)
    at = data.index(b"Smith^John")
    assert at // size == chunk_index and (at + 10) // size == chunk_index and data[128:132] == b"DICM"
    return data, size


def resumable(proxy: ProxyProcess, data: bytes, size: int) -> list[httpx.Response]:
    """Drive the resumable protocol by hand: start, then 8 chunks (the last one `upload, finalize`)."""
    out = []
    with httpx.Client(proxy=proxy.url, verify=str(proxy.ca), timeout=60) as c:
        r = c.post(
            f"{API}/upload/v1beta/files",
            json={"file": {"displayName": "study.bin"}},
            headers={
                "x-goog-upload-protocol": "resumable",
                "x-goog-upload-command": "start",
                "x-goog-upload-header-content-length": str(len(data)),
                "x-goog-api-key": "k",
            },
        )
        assert r.status_code == 200, r.text
        url = r.headers["x-goog-upload-url"]
        for off in range(0, len(data), size):
            last = off + size >= len(data)
            r = c.post(
                url,
                content=data[off : off + size],
                headers={
                    "x-goog-upload-command": "upload, finalize" if last else "upload",
                    "x-goog-upload-offset": str(off),
                    "content-type": "application/x-www-form-urlencoded",
                },
            )  # a lying Content-Type, as the web app sends
            out.append(r)
            if r.status_code != 200:
                break
    return out


def test_eight_chunks_are_judged_on_the_whole_file(
    proxy_factory: Callable[..., ProxyProcess], up: FakeUpstream
) -> None:
    """Policy: only a DICOM naming the patient is blocked. Chunk 1 (DICOM magic, no name) is checked at once and
    let through; chunks 2-7 are held and forwarded; the finalizing chunk 8 is blocked because the assembled file has
    PatientName, which only chunk 7 carries."""
    p = proxy_factory(POLICIES / "dicom_tags.yaml")
    data, size = dicom_with_name_in_chunk()
    replies = resumable(p, data, size)
    assert [r.status_code for r in replies] == [200] * 7 + [403]
    assert "DICOM_TAG:PatientName" in replies[-1].json()["error"]["message"] or "patient" in replies[-1].text.lower()
    assert replies[-1].headers["x-goog-upload-status"] == "final"
    assert "Smith" not in replies[-1].text
    chunk_cmds = [r.headers.get("x-goog-upload-command") for r in up.requests]
    assert chunk_cmds == ["start"] + ["upload"] * 7  # the finalize never left
    ev = p.audit_events()[-1]
    assert ev["verdict"] == "block" and ev["assembled_bytes"] == len(data)


def test_eight_chunks_default_policy_stops_at_first_chunk(proxy: ProxyProcess, up: FakeUpstream) -> None:
    """The default policy blocks any DICOM: the first chunk's magic is enough, and the upload stops there."""
    data, size = dicom_with_name_in_chunk()
    replies = resumable(proxy, data, size)
    assert [r.status_code for r in replies] == [403]
    assert "DICOM" in replies[0].json()["error"]["message"]
    assert [r.headers.get("x-goog-upload-command") for r in up.requests] == ["start"]


# -- OpenAI Uploads API with the real SDK -----------------------------------------------------------------------


def _openai_uploads(up: FakeUpstream) -> None:
    state: dict[str, int] = {"n": 0}

    def create(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        body = req.json()
        return (
            200,
            {"content-type": "application/json"},
            json.dumps(
                {
                    "id": f"upload_{uuid.uuid4().hex[:16]}",
                    "object": "upload",
                    "bytes": body["bytes"],
                    "created_at": 0,
                    "filename": body["filename"],
                    "purpose": body["purpose"],
                    "status": "pending",
                    "expires_at": 3600,
                }
            ).encode(),
        )

    def part(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        state["n"] += 1
        upload_id = req.path.split("/")[3]
        return (
            200,
            {"content-type": "application/json"},
            json.dumps(
                {"id": f"part_{state['n']:08d}", "object": "upload.part", "created_at": 0, "upload_id": upload_id}
            ).encode(),
        )

    def complete(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        upload_id = req.path.split("/")[3]
        return (
            200,
            {"content-type": "application/json"},
            json.dumps(
                {
                    "id": upload_id,
                    "object": "upload",
                    "bytes": 1,
                    "created_at": 0,
                    "filename": "f",
                    "purpose": "user_data",
                    "status": "completed",
                    "expires_at": 3600,
                    "file": {
                        "id": "file-fake0001",
                        "object": "file",
                        "bytes": 1,
                        "created_at": 0,
                        "filename": "f",
                        "purpose": "user_data",
                        "status": "processed",
                    },
                }
            ).encode(),
        )

    up.route("POST", r"^/v1/uploads$", create)
    up.route("POST", r"^/v1/uploads/[^/]+/parts$", part)
    up.route("POST", r"^/v1/uploads/[^/]+/complete$", complete)


def oclient(proxy: ProxyProcess) -> openai.OpenAI:
    http_client = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(
        api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http_client, max_retries=0
    )


def test_openai_uploads_dicom_in_parts_is_blocked(proxy_factory: Callable[..., ProxyProcess], up: FakeUpstream) -> None:
    """With the name-only policy the first part passes the early check; `complete` is blocked on the whole file."""
    _openai_uploads(up)
    data, size = dicom_with_name_in_chunk()
    p = proxy_factory(POLICIES / "dicom_tags.yaml")
    with pytest.raises(openai.PermissionDeniedError) as ei:
        oclient(p).uploads.upload_file_chunked(
            file=data,
            filename="study.bin",
            bytes=len(data),
            mime_type="application/octet-stream",
            purpose="user_data",
            part_size=size,
        )
    assert "phiwall blocked" in str(ei.value) and "Smith" not in str(ei.value)
    paths = [r.path for r in up.requests]
    assert sum(1 for x in paths if x.endswith("/parts")) == 8
    assert not any(x.endswith("/complete") for x in paths)


def test_openai_uploads_default_policy_stops_first_part(proxy: ProxyProcess, up: FakeUpstream) -> None:
    _openai_uploads(up)
    data, size = dicom_with_name_in_chunk()
    with pytest.raises(openai.PermissionDeniedError) as ei:
        oclient(proxy).uploads.upload_file_chunked(
            file=data,
            filename="study.bin",
            bytes=len(data),
            mime_type="application/octet-stream",
            purpose="user_data",
            part_size=size,
        )
    assert "DICOM" in str(ei.value)
    assert not any(r.path.endswith("/parts") for r in up.requests)


def _upload_chunked(proxy: ProxyProcess, data: bytes, filename: str, mime: str, parts: int = 3) -> object:
    return oclient(proxy).uploads.upload_file_chunked(
        file=data,
        filename=filename,
        bytes=len(data),
        mime_type=mime,
        purpose="user_data",
        part_size=math.ceil(len(data) / parts),
    )


def test_openai_uploads_xray_png_in_parts_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    """The first part is a PNG cut short, which the early check does not call medical; the parts are held and the
    assembled PNG is judged at `complete`, which is refused: the file is never created."""
    from tests.support.samples import xray_png

    _openai_uploads(up)
    with pytest.raises(openai.PermissionDeniedError) as ei:
        _upload_chunked(proxy, xray_png(), "chest.png", "image/png")
    assert "phiwall blocked" in str(ei.value)
    assert sum(1 for r in up.requests if r.path.endswith("/parts")) == 3
    assert not any(r.path.endswith("/complete") for r in up.requests)
    ev = proxy.audit_events()[-1]
    assert ev["path"].endswith("/complete") and ev["assembled_bytes"] == len(xray_png())
    assert ev["verdict"] == "block" and "medical-image" in ev["rule_ids"]


def test_openai_uploads_text_file_with_phi_is_blocked(proxy: ProxyProcess, up: FakeUpstream) -> None:
    from tests.support.samples import PHI_NOTE

    _openai_uploads(up)
    data = (b"Clinic letter.\n" * 40) + PHI_NOTE.encode()  # the identifiers are in the last part only
    with pytest.raises(openai.PermissionDeniedError) as ei:
        _upload_chunked(proxy, data, "letter.txt", "text/plain")
    assert "phiwall blocked" in str(ei.value) and "Jane" not in str(ei.value)
    assert not any(r.path.endswith("/complete") for r in up.requests)
    ev = proxy.audit_events()[-1]
    assert ev["path"].endswith("/complete") and ev["assembled_bytes"] == len(data) and ev["verdict"] == "block"


def test_openai_uploads_benign_file_completes(proxy: ProxyProcess, up: FakeUpstream) -> None:
    _openai_uploads(up)
    data = b"Clinic opening hours: Mon-Fri 8-17.\n" * 200
    u = oclient(proxy).uploads.upload_file_chunked(
        file=data, filename="hours.txt", bytes=len(data), mime_type="text/plain", purpose="user_data", part_size=2048
    )
    assert u.status == "completed" and u.file is not None and u.file.id == "file-fake0001"
    parts = [r for r in up.requests if r.path.endswith("/parts")]
    assert b"".join(_part_data(r) for r in parts) == data


def _part_data(r: Recorded) -> bytes:
    from phiwall.extractors.base import parse_multipart

    return next(f.data for f in parse_multipart(r.body, r.headers["content-type"]) if f.name == "data")
