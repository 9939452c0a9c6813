"""Google resumable uploads (File API and Gemini web push hosts): each step's parts."""

from __future__ import annotations

import pytest
from phiwall.extractors.gemini_upload import GeminiUploadAdapter
from phiwall.model import PartKind
from phiwall.request import RequestData
from phiwall.uploads import ASSEMBLED_HEADER

from tests.factories import make_dicom


def req(
    body: bytes,
    command: str | None,
    host: str = "generativelanguage.googleapis.com",
    ctype: str = "",
    path: str = "/upload/v1beta/files?upload_id=U1&upload_protocol=resumable",
    extra: tuple = (),
) -> RequestData:
    h: tuple = (
        ((("content-type", ctype),) if ctype else ())
        + ((("x-goog-upload-command", command),) if command else ())
        + extra
    )
    return RequestData("POST", "https", host, 443, path, h, body)


def test_api_start_inspects_display_name() -> None:
    body = b'{"file": {"mimeType": "image/png", "displayName": "Jane Roe chest.png"}}'
    env = GeminiUploadAdapter().extract(req(body, "start", ctype="application/json"), body)
    assert env.service == "gemini_api" and env.endpoint == "files.upload.start"
    assert [(p.text, p.role) for p in env.parts] == [("Jane Roe chest", "filename")]


def test_web_start_form_key_is_the_text() -> None:
    body = b"File+name%3A+Jane_Roe.png="
    r = req(body, "start", host="push.clients6.google.com", ctype="application/x-www-form-urlencoded", path="/upload/")
    env = GeminiUploadAdapter().extract(r, body)
    assert env.service == "gemini_upload" and "File name: Jane_Roe.png" in [p.text for p in env.parts]


@pytest.mark.parametrize("command,endpoint", [("upload", "files.upload.chunk"), ("upload, finalize", "files.upload")])
def test_chunk_is_raw_bytes_despite_a_lying_content_type(command: str, endpoint: str) -> None:
    dcm = make_dicom()
    env = GeminiUploadAdapter().extract(req(dcm, command, ctype="application/x-www-form-urlencoded"), dcm)
    assert env.endpoint == endpoint and env.correlation_id == "U1"
    assert env.parts[0].kind == PartKind.FILE and env.parts[0].media_type == "application/dicom"


def test_assembled_file() -> None:
    dcm = make_dicom()
    env = GeminiUploadAdapter().extract(req(dcm, "upload, finalize", extra=((ASSEMBLED_HEADER, "1"),)), dcm)
    assert env.endpoint == "files.upload" and env.parts[0].data == dcm


def test_web_variant_a_multipart() -> None:
    from tests.support.samples import multipart

    body, ctype = multipart([("file", "scan.png", "image/png", make_dicom())])
    r = req(body, None, host="content-push.googleapis.com", ctype=ctype, path="/upload")
    env = GeminiUploadAdapter().extract(r, body)
    assert env.endpoint == "files.upload" and env.parts[0].media_type == "application/dicom"


def test_query_has_nothing_to_inspect() -> None:
    env = GeminiUploadAdapter().extract(req(b"", "query"), b"")
    assert env.parts == () and env.endpoint == "files.upload.query"
