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
from google.genai import errors as genai_errors

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


def test_chatgpt_two_step_upload_is_blocked_with_the_reason(
    deid_proxy: ProxyProcess,
    chatgpt_up: FakeUpstream,  # noqa: F811
    fixture: list[dict[str, Any]],  # noqa: F811
) -> None:
    register, put, *_ = replay(deid_proxy, fixture, DICOM.read_bytes(), BENIGN)
    assert register.status_code == 200
    assert put.status_code == 403 and b"registered with the service" in put.content
    assert [r.method for r in chatgpt_up.requests] == ["POST"]  # the bytes never left


def test_gemini_resumable_upload_is_blocked_with_the_reason(
    deid_proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    fresh_upstream.route("POST", r"^/upload/v1(?:beta)?/files$", google_upload)
    with pytest.raises(genai_errors.ClientError) as ei:
        gclient(deid_proxy).files.upload(file=io.BytesIO(DICOM.read_bytes()), config={"mime_type": "application/dicom"})
    assert ei.value.code == 403 and "registered with the service" in (ei.value.message or "")
    assert [r.headers.get("x-goog-upload-command") for r in fresh_upstream.requests] == ["start"]
