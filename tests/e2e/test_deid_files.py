"""Issue 9 acceptance, files: under policies/deidentify.yaml a DICOM sent through the OpenAI Files API arrives at the
server de-identified and decodable (checked with pydicom there); the upload protocols that registered the file
(ChatGPT web's two-step upload, the Gemini resumable upload) are blocked with a reason that says why."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pydicom
import pytest

from tests.e2e.test_resumable import gclient
from tests.e2e.test_resumable import google_upload
from tests.e2e.test_web_chatgpt import fixture  # noqa: F401 - fixture
from tests.e2e.test_web_chatgpt import replay
from tests.e2e.test_web_chatgpt import up as chatgpt_up  # noqa: F401 - fixture
from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess
from tests.support.samples import BENIGN

pytestmark = pytest.mark.e2e

POLICY = Path(__file__).parents[2] / "policies" / "deidentify.yaml"
DICOM = Path(__file__).parents[2] / "policies" / "tests" / "fixtures" / "ct_identifiable.dcm"


def registered_dicom() -> bytes:
    """A DICOM whose removed attributes (private tags, free-text history) leave room to keep its length."""
    from tests.factories import make_dicom

    history = "Chest pain since Tuesday, smoker, lives with her husband at 12 Elm Street. " * 5
    return make_dicom(
        patient_name="Okafor^Margaret",
        private=True,
        elements={"PatientComments": history, "AdditionalPatientHistory": history},
    )


@pytest.fixture(scope="module")
def deid_proxy(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    return proxy_factory(POLICY)


def _file_field(body: bytes, ctype: str) -> bytes:
    from phiwall.extractors.base import parse_multipart

    return next(f.data for f in parse_multipart(body, ctype) if f.name == "file")


def test_dicom_through_the_openai_files_api_arrives_deidentified(
    deid_proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    data = DICOM.read_bytes()
    before = pydicom.dcmread(io.BytesIO(data))
    http = openai.DefaultHttpxClient(proxy=deid_proxy.url, verify=str(deid_proxy.ca), timeout=60)
    c = openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)
    c.files.create(file=("scan.dcm", data, "application/dicom"), purpose="user_data")
    (rec,) = [r for r in fresh_upstream.requests if r.path.startswith("/v1/files")]
    got = _file_field(rec.body, rec.headers["content-type"])
    ds = pydicom.dcmread(io.BytesIO(got))
    assert ds.pixel_array.shape == before.pixel_array.shape  # the pixels decode
    assert ds.PatientIdentityRemoved == "YES"
    assert str(ds.PatientName) != str(before.PatientName) and ds.PatientID != before.PatientID
    assert ds.StudyInstanceUID != before.StudyInstanceUID and ds.Modality == before.Modality
    for value in (str(before.PatientName), before.PatientID, str(before.get("PatientBirthDate", "")) or "-"):
        assert value.encode() not in got
    ev = [e for e in deid_proxy.audit_events() if e.get("event") == "inspection"][-1]
    assert ev["verdict"] == "deidentify" and ev["deidentified"]["parts"] == ["multipart:file.1"]
    assert str(before.PatientName) not in json.dumps(ev)


def _assert_deidentified(got: bytes, original: bytes) -> None:
    before = pydicom.dcmread(io.BytesIO(original))
    ds = pydicom.dcmread(io.BytesIO(got))
    assert ds.pixel_array.shape == before.pixel_array.shape and ds.PatientIdentityRemoved == "YES"
    assert str(before.PatientName).encode() not in got and before.PatientID.encode() not in got


def test_chatgpt_two_step_upload_arrives_deidentified_at_the_registered_size(
    deid_proxy: ProxyProcess,
    chatgpt_up: FakeUpstream,  # noqa: F811
    fixture: list[dict[str, Any]],  # noqa: F811
) -> None:
    """The registration told ChatGPT the file's size before its bytes: the de-identified DICOM keeps that length
    exactly (Data Set Trailing Padding), so the PUT and the conversation go through."""
    data = registered_dicom()
    register, put, uploaded, conversation = replay(deid_proxy, fixture, data, BENIGN)
    assert register.status_code == 200 and put.status_code < 300, put.text
    assert uploaded.status_code == 200 and conversation.status_code == 200
    (blob,) = [r for r in chatgpt_up.requests if r.method == "PUT"]
    assert len(blob.body) == len(data)
    _assert_deidentified(blob.body, data)


def test_gemini_resumable_upload_arrives_deidentified(deid_proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    fresh_upstream.route("POST", r"^/upload/v1(?:beta)?/files$", google_upload)
    data = registered_dicom()
    gclient(deid_proxy).files.upload(file=io.BytesIO(data), config={"mime_type": "application/dicom"})
    start, upload = fresh_upstream.requests
    assert start.headers.get("x-goog-upload-command") == "start"
    assert "finalize" in upload.headers.get("x-goog-upload-command", "")
    assert len(upload.body) == len(data)  # the length declared at start is kept
    _assert_deidentified(upload.body, data)


def test_a_registered_size_that_cannot_be_kept_is_blocked_with_the_reason(
    deid_proxy: ProxyProcess,
    chatgpt_up: FakeUpstream,  # noqa: F811
    fixture: list[dict[str, Any]],  # noqa: F811
) -> None:
    """A DICOM with nothing to remove grows when de-identified (pseudonyms, UIDs, the de-identification method
    attributes), so it cannot keep the size ChatGPT registered: blocked, saying why."""
    register, put, *_ = replay(deid_proxy, fixture, DICOM.read_bytes(), BENIGN)
    assert register.status_code == 200
    assert put.status_code == 403 and b"registered" in put.content
    assert not [r for r in chatgpt_up.requests if r.method == "PUT"]  # the bytes never left
