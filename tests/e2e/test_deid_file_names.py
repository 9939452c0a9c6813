"""File names are PHI too: under policies/deidentify.yaml, a DICOM uploaded as "Margaret_Okafor_CT.dcm" reaches the
server de-identified *and renamed* (the name's words become stand-ins, its style and extension stay), through a real
`phiwall run` and the real openai SDK; an upload registration's JSON `filename` is renamed the same way."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import openai
import pydicom
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

POLICY = Path(__file__).parents[2] / "policies" / "deidentify.yaml"
FILE_NAME = "Margaret_Okafor_CT.dcm"


@pytest.fixture(scope="module")
def deid_proxy(proxy_factory: Callable[..., ProxyProcess]) -> ProxyProcess:
    return proxy_factory(POLICY)


def _client(proxy: ProxyProcess) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(proxy=proxy.url, verify=str(proxy.ca), timeout=60)
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def test_dicom_with_a_patient_named_file_name_arrives_renamed_and_deidentified(
    deid_proxy: ProxyProcess, fresh_upstream: FakeUpstream
) -> None:
    from phiwall.extractors.base import parse_multipart

    from tests.factories import make_dicom

    data = make_dicom(patient_name="Okafor^Margaret")
    _client(deid_proxy).files.create(file=(FILE_NAME, data, "application/dicom"), purpose="user_data")
    (rec,) = [r for r in fresh_upstream.requests if r.path.startswith("/v1/files")]
    (field,) = [f for f in parse_multipart(rec.body, rec.headers["content-type"]) if f.name == "file"]
    name = field.filename or ""
    assert "Margaret" not in name and "Okafor" not in name, name
    assert name.endswith(".dcm") and "[PATIENT_" in name  # the extension is kept
    assert b"Okafor" not in rec.body and b"Margaret" not in rec.body  # nowhere in the upload: headers or bytes
    ds = pydicom.dcmread(io.BytesIO(field.data))
    assert ds.PatientIdentityRemoved == "YES"
    ev = [e for e in deid_proxy.audit_events() if e.get("event") == "inspection"][-1]
    assert ev["verdict"] == "deidentify"
    assert sorted(ev["deidentified"]["parts"]) == ["multipart:file.1", "multipart:file.1.filename"]
    assert "Okafor" not in str(ev)


def test_upload_registration_file_name_is_inspected(deid_proxy: ProxyProcess, fresh_upstream: FakeUpstream) -> None:
    """OpenAI Uploads: `POST /v1/uploads` names the file before any byte. The name is a text part (role filename,
    `json:filename`); the patient's name in it never reaches the service. (Today the enforcement refuses to rewrite
    any request of a registered upload, so this one is blocked with that reason rather than renamed.)"""
    with pytest.raises(openai.PermissionDeniedError, match="registered"):
        _client(deid_proxy).uploads.create(
            bytes=1024, filename=FILE_NAME, mime_type="application/dicom", purpose="user_data"
        )
    assert not [r for r in fresh_upstream.requests if b"Okafor" in r.body]
    ev = [e for e in deid_proxy.audit_events() if e.get("event") == "inspection"][-1]
    assert ev["endpoint"] == "uploads.create" and ev["entity_counts"] == {"PERSON": 1}
    assert [p["where"] for p in ev["parts"]] == ["json:filename"]
