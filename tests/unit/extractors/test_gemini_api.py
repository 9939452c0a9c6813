"""Gemini API / Vertex adapter: camelCase and snake_case parts, URL-safe base64 (spec §10), systemInstruction,
fileUri kinds, countTokens/cachedContents/batch/interactions, the OpenAI-compatible path, Vertex Anthropic
rawPredict, the resumable upload, and changed shapes failing closed."""

from __future__ import annotations

import base64
import json

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors.gemini_api import GeminiAPIAdapter
from phiwall.extractors.gemini_api import classify
from phiwall.model import PartKind

from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import request
from tests.support.samples import xray_png

A = GeminiAPIAdapter()
DCM = dicom_bytes()
HOST = "generativelanguage.googleapis.com"
VERTEX = "us-central1-aiplatform.googleapis.com"


def _run(path: str, doc: object, host: str = HOST, method: str = "POST"):  # noqa: ANN202
    raw = json.dumps(doc).encode()
    return A.extract(request(method, host, path, raw), raw)


def _files(env):  # noqa: ANN001, ANN202
    return [p for p in env.parts if p.kind == PartKind.FILE]


def _texts(env):  # noqa: ANN001, ANN202
    return [p.text for p in env.parts if p.kind == PartKind.TEXT]


@pytest.mark.parametrize(
    "method,path,name",
    [
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", "generateContent"),
        ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "streamGenerateContent"),
        ("POST", "/v1/models/gemini-2.5-flash:countTokens", "countTokens"),
        ("POST", "/v1beta/tunedModels/my-tune:generateContent", "generateContent"),
        ("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent", "batchGenerateContent"),
        ("POST", "/v1beta/models/text-embedding-004:embedContent", "embedContent"),
        ("POST", "/v1beta/cachedContents", "cachedContents"),
        ("PATCH", "/v1beta/cachedContents/abc", "cachedContents"),
        ("POST", "/v1beta/interactions", "interactions"),
        ("POST", "/upload/v1beta/files", "files.upload"),
        (
            "POST",
            "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent",
            "generateContent",
        ),
        (
            "POST",
            "/v1beta1/projects/p1/locations/global/publishers/google/models/g:streamGenerateContent",
            "streamGenerateContent",
        ),
        ("POST", "/v1/publishers/google/models/gemini-2.5-flash:generateContent", "generateContent"),
        (
            "POST",
            "/v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4:rawPredict",
            "rawPredict",
        ),
        ("POST", "/v1/projects/p1/locations/us-central1/cachedContents", "cachedContents"),
    ],
)
def test_matcher_table(method: str, path: str, name: str) -> None:
    found = classify(method, path)
    assert found is not None and found[0].name == name


def test_spec_example_camel_and_snake_case() -> None:
    png = xray_png()
    doc = {
        "systemInstruction": {"parts": [{"text": "You are a radiology assistant"}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": PHI_PROMPT},
                    {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}},
                    {"inline_data": {"mime_type": "application/dicom", "data": base64.b64encode(DCM).decode()}},
                    {
                        "file_data": {
                            "mime_type": "application/pdf",
                            "file_uri": "https://generativelanguage.googleapis.com/v1beta/files/abc123",
                        }
                    },
                ],
            }
        ],
    }
    env = _run("/v1beta/models/gemini-2.5-flash:generateContent", doc)
    assert env.endpoint == "generateContent" and env.kind == "chat"
    assert set(_texts(env)) == {"You are a radiology assistant", PHI_PROMPT}
    assert sorted(p.media_type for p in _files(env)) == ["application/dicom", "image/png"]
    assert "file_ref:files/abc123" in env.notes
    assert env.adapter_findings == ()  # a File API uri is not a remote fetch


def test_url_safe_base64_without_padding_is_decoded() -> None:
    """google-genai sends inline data with base64.urlsafe_b64encode (spec §10)."""
    data = DCM + b"\xfb\xff\xfe"  # make sure '-' and '_' occur
    s = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert "-" in s or "_" in s
    env = _run("/v1beta/models/m:generateContent", {"contents": [{"parts": [{"inlineData": {"data": s}}]}]})
    assert _files(env)[0].data == data and _files(env)[0].media_type == "application/dicom"


def test_broken_inline_data_fails_closed() -> None:
    with pytest.raises(ExtractionError, match="broken base64"):
        _run("/v1beta/models/m:generateContent", {"contents": [{"parts": [{"inlineData": {"data": "iVBOR%%%%"}}]}]})


@pytest.mark.parametrize(
    "uri,scheme",
    [
        ("gs://bucket/patient-scan.dcm", "gs"),
        ("https://bucket.s3.amazonaws.com/x.png?X-Amz-Signature=abc", "https"),
    ],
)
def test_external_file_uri_is_remote_reference(uri: str, scheme: str) -> None:
    env = _run(
        "/v1/projects/p/locations/l/publishers/google/models/g:generateContent",
        {"contents": [{"parts": [{"fileData": {"fileUri": uri, "mimeType": "image/png"}}]}]},
        host=VERTEX,
    )
    assert [(f.entity, f.tag) for f in env.adapter_findings] == [("REMOTE_REFERENCE", scheme)]


def test_thought_signature_is_not_content() -> None:
    sig = base64.b64encode(bytes(range(256)) * 2).decode()
    env = _run(
        "/v1beta/models/m:generateContent",
        {"contents": [{"role": "model", "parts": [{"text": "ok", "thoughtSignature": sig}]}]},
    )
    assert _texts(env) == ["ok"] and _files(env) == []


def test_count_tokens_with_generate_content_request() -> None:
    env = _run(
        "/v1beta/models/m:countTokens",
        {"generateContentRequest": {"model": "models/m", "contents": [{"parts": [{"text": PHI_PROMPT}]}]}},
    )
    assert _texts(env) == [PHI_PROMPT]


def test_cached_contents_and_batch() -> None:
    b64 = base64.b64encode(DCM).decode()
    env = _run(
        "/v1beta/cachedContents",
        {
            "model": "models/m",
            "systemInstruction": {"parts": [{"text": PHI_PROMPT}]},
            "contents": [{"parts": [{"inline_data": {"data": b64}}]}],
        },
    )
    assert env.endpoint == "cachedContents" and _texts(env) == [PHI_PROMPT] and len(_files(env)) == 1
    env = _run(
        "/v1beta/models/m:batchGenerateContent",
        {
            "batch": {
                "input_config": {
                    "requests": {
                        "requests": [
                            {
                                "request": {
                                    "contents": [{"parts": [{"text": PHI_PROMPT}, {"inlineData": {"data": b64}}]}]
                                }
                            }
                        ]
                    }
                }
            }
        },
    )
    assert _texts(env) == [PHI_PROMPT] and len(_files(env)) == 1


def test_interactions_blocks() -> None:
    env = _run(
        "/v1beta/interactions",
        {
            "model": "gemini-2.5-flash",
            "input": [
                {
                    "type": "user_input",
                    "content": [
                        {"type": "text", "text": PHI_PROMPT},
                        {"type": "image", "data": base64.b64encode(DCM).decode(), "mime_type": "image/png"},
                        {"type": "document", "uri": "https://example.org/a.pdf"},
                    ],
                }
            ],
        },
    )
    assert _texts(env) == [PHI_PROMPT] and len(_files(env)) == 1
    assert [f.entity for f in env.adapter_findings] == ["REMOTE_REFERENCE"]


def test_openai_compatible_path() -> None:
    env = _run(
        "/v1beta/openai/chat/completions",
        {
            "model": "gemini-2.5-flash",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": PHI_PROMPT},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64," + base64.b64encode(DCM).decode()},
                        },
                    ],
                }
            ],
        },
    )
    assert env.endpoint == "openai.chat.completions" and _texts(env) == [PHI_PROMPT] and len(_files(env)) == 1


def test_vertex_anthropic_raw_predict() -> None:
    env = _run(
        "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4:rawPredict",
        {
            "anthropic_version": "vertex-2023-10-16",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": PHI_PROMPT},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": base64.b64encode(DCM).decode(),
                            },
                        },
                    ],
                }
            ],
        },
        host=VERTEX,
    )
    assert env.endpoint == "rawPredict.anthropic" and _texts(env) == [PHI_PROMPT] and len(_files(env)) == 1


@pytest.mark.parametrize(
    "doc,what",
    [
        (["not", "an", "object"], "not a JSON object"),
        ({"contents": "hello"}, "contents is not a list"),
        ({"contents": [{"parts": "hello"}]}, "parts is not a list"),
        ({"contents": ["hello"]}, "contents.0 is not an object"),
    ],
)
def test_changed_shapes_fail_closed(doc: object, what: str) -> None:
    with pytest.raises(ExtractionError, match=what) as ei:
        _run("/v1beta/models/m:generateContent", doc)
    assert "generateContent" in str(ei.value)


def test_resumable_upload_start_and_chunk() -> None:
    start = json.dumps({"file": {"mimeType": "application/dicom", "displayName": "scan.dcm"}}).encode()
    r = request(
        "POST",
        HOST,
        "/upload/v1beta/files",
        start,
        headers=(("x-goog-upload-protocol", "resumable"), ("x-goog-upload-command", "start")),
    )
    env = A.extract(r, start)
    assert env.endpoint == "files.upload" and _files(env) == [] and "resumable:start" in env.notes
    r = request(
        "POST",
        HOST,
        "/upload/v1beta/files?upload_id=UP1&upload_protocol=resumable",
        DCM,
        "application/dicom",
        headers=(("x-goog-upload-command", "upload, finalize"), ("x-goog-upload-offset", "0")),
    )
    env = A.extract(r, DCM)
    assert env.correlation_id == "UP1" and _files(env)[0].media_type == "application/dicom"


def test_unknown_path_goes_generic() -> None:
    env = _run("/v1beta/somethingNew", {"prompt": PHI_PROMPT})
    assert env.endpoint == "generic" and _texts(env) == [PHI_PROMPT]
