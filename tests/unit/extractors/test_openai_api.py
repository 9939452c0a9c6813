"""OpenAI adapter: the spec's §1 shapes (chat, responses, files with batch JSONL, uploads parts, images edits,
audio, assistants/threads, moderation), Azure and compat prefixes, and changed shapes failing closed."""

from __future__ import annotations

import base64
import json

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors.openai_api import OpenAIAdapter
from phiwall.extractors.openai_api import classify
from phiwall.model import PartKind

from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import multipart
from tests.support.samples import request
from tests.support.samples import xray_png

A = OpenAIAdapter()
DCM = dicom_bytes()
B64_DCM = base64.b64encode(DCM).decode()


def _files(env):  # noqa: ANN001, ANN202
    return [p for p in env.parts if p.kind == PartKind.FILE]


def _texts(env):  # noqa: ANN001, ANN202
    return [p.text for p in env.parts if p.kind == PartKind.TEXT]


@pytest.mark.parametrize(
    "method,path,name",
    [
        ("POST", "/v1/chat/completions", "chat.completions"),
        ("POST", "/openai/deployments/gpt4o-prod/chat/completions", "chat.completions"),
        ("POST", "/openai/v1/chat/completions", "chat.completions"),
        ("POST", "/v1beta/openai/chat/completions", "chat.completions"),
        ("POST", "/v1/responses", "responses"),
        ("POST", "/v1/responses/input_tokens", "responses.input_tokens"),
        ("POST", "/v1/responses/compact", "responses.compact"),
        ("POST", "/v1/conversations", "conversations"),
        ("POST", "/v1/conversations/conv_1/items", "conversations.items"),
        ("POST", "/v1/files", "files.create"),
        ("POST", "/openai/files", "files.create"),
        ("POST", "/v1/uploads", "uploads.create"),
        ("POST", "/v1/uploads/upload_abc/parts", "uploads.parts"),
        ("POST", "/v1/uploads/upload_abc/complete", "uploads.complete"),
        ("POST", "/v1/images/edits", "images.edits"),
        ("POST", "/openai/deployments/img/images/edits", "images.edits"),
        ("POST", "/v1/images/variations", "images.variations"),
        ("POST", "/v1/audio/transcriptions", "audio.transcriptions"),
        ("POST", "/v1/threads/thread_1/messages", "threads.messages"),
        ("POST", "/v1/threads/runs", "threads.runs"),
        ("POST", "/v1/threads/thread_1/runs", "threads.runs"),
        ("POST", "/v1/threads", "threads"),
        ("POST", "/openai/threads/thread_1/messages", "threads.messages"),
        ("POST", "/v1/moderations", "moderations"),
        ("POST", "/v1/containers/cntr_1/files", "containers.files"),
        ("POST", "/v1/videos", "videos"),
    ],
)
def test_matcher_table(method: str, path: str, name: str) -> None:
    ep = classify(method, path)
    assert ep is not None and ep.name == name


def test_get_and_unknown_paths_are_not_specific() -> None:
    assert classify("GET", "/v1/files") is None
    env = A.extract(
        request("POST", "api.openai.com", "/v1/brand_new_thing", b'{"x": "Jane Roe"}'), b'{"x": "Jane Roe"}'
    )
    assert env.endpoint == "generic" and _texts(env) == ["Jane Roe"]


def test_chat_spec_example() -> None:
    png = base64.b64encode(xray_png()).decode()
    body = {
        "model": "gpt-5",
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": PHI_PROMPT},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + png, "detail": "high"}},
                    {
                        "type": "file",
                        "file": {"filename": "report.dcm", "file_data": "data:application/pdf;base64," + B64_DCM},
                    },
                    {
                        "type": "input_audio",
                        "input_audio": {"data": "UklGRiQAAABXQVZFZm10IBAAAAABAAEA", "format": "wav"},
                    },
                ],
            },
        ],
    }
    raw = json.dumps(body).encode()
    env = A.extract(request("POST", "api.openai.com", "/v1/chat/completions", raw), raw)
    assert env.endpoint == "chat.completions"
    assert PHI_PROMPT in _texts(env) and "You are helpful." in _texts(env)
    media = {p.media_type for p in _files(env)}
    assert {"image/png", "application/dicom"} <= media
    locs = {p.locator.describe() for p in _files(env)}
    assert "json:messages.1.content.1.image_url.url" in locs


def test_broken_input_audio_base64_raises() -> None:
    body = json.dumps(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "UklGR%%%notbase64", "format": "wav"}}],
                }
            ]
        }
    ).encode()
    with pytest.raises(ExtractionError, match="broken base64"):
        A.extract(request("POST", "api.openai.com", "/v1/chat/completions", body), body)


def test_data_key_in_tool_arguments_is_text() -> None:
    body = json.dumps({"messages": [{"role": "tool", "content": "ok", "data": "Hello,world and more"}]}).encode()
    env = A.extract(request("POST", "api.openai.com", "/v1/chat/completions", body), body)
    assert "Hello,world and more" in _texts(env)


def test_chat_messages_must_be_a_list() -> None:
    body = b'{"model": "gpt-4o", "messages": "hi"}'
    with pytest.raises(ExtractionError, match="chat.completions"):
        A.extract(request("POST", "api.openai.com", "/v1/chat/completions", body), body)


def test_responses_input_file_and_file_id_reference() -> None:
    body = json.dumps(
        {
            "model": "gpt-5",
            "instructions": "Be brief.",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": PHI_PROMPT},
                        {
                            "type": "input_file",
                            "filename": "x.dcm",
                            "file_data": "data:application/dicom;base64," + B64_DCM,
                        },
                        {"type": "input_file", "file_id": "file-abc123"},
                        {"type": "input_file", "file_url": "https://example.org/labs.pdf"},
                    ],
                }
            ],
        }
    ).encode()
    env = A.extract(request("POST", "api.openai.com", "/v1/responses", body), body)
    assert [p.media_type for p in _files(env)] == ["application/dicom"]
    assert "file_ref:file-abc123" in env.notes
    assert [f.entity for f in env.adapter_findings] == ["REMOTE_REFERENCE"]


def test_files_create_multipart() -> None:
    body, ct = multipart([("purpose", None, None, b"user_data"), ("file", "ct.dcm", "application/dicom", DCM)])
    env = A.extract(request("POST", "api.openai.com", "/v1/files", body, ct), body)
    assert env.endpoint == "files.create" and env.kind == "upload"
    assert [(p.media_type, p.filename) for p in _files(env)] == [("application/dicom", "ct.dcm")]
    assert _texts(env) == ["ct"]  # purpose is protocol, not content; the file's name is (its extension aside)
    (name,) = [p for p in env.parts if p.role == "filename"]
    assert name.id == "p1" and name.locator.describe() == "multipart:file.1.filename"  # after every other part


def test_files_batch_jsonl_lines_are_inspected_recursively() -> None:
    line1 = {
        "custom_id": "r1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": PHI_PROMPT}]},
    }
    line2 = {
        "custom_id": "r2",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + B64_DCM}}],
                }
            ]
        },
    }
    jsonl = (json.dumps(line1) + "\n" + json.dumps(line2) + "\n").encode()
    body, ct = multipart([("purpose", None, None, b"batch"), ("file", "batch.jsonl", "application/jsonl", jsonl)])
    env = A.extract(request("POST", "api.openai.com", "/v1/files", body, ct), body)
    assert PHI_PROMPT in _texts(env)
    assert [p.media_type for p in _files(env)] == ["application/dicom"]
    assert _files(env)[0].locator.path[:4] == ("file", 1, "line", 1)


def test_files_batch_jsonl_broken_line_fails_closed() -> None:
    body, ct = multipart([("purpose", None, None, b"batch"), ("file", "b.jsonl", None, b'{"custom_id": 1}\n{broken\n')])
    with pytest.raises(ExtractionError, match="line 2"):
        A.extract(request("POST", "api.openai.com", "/v1/files", body, ct), body)


def test_uploads_parts_data_field_and_correlation() -> None:
    body, ct = multipart([("data", "blob", "application/octet-stream", DCM[:1000])])
    env = A.extract(request("POST", "api.openai.com", "/v1/uploads/upload_77/parts", body, ct), body)
    assert env.endpoint == "uploads.parts" and env.correlation_id == "upload_77"
    assert _files(env)[0].data == DCM[:1000] and _files(env)[0].locator.path == ("data", 0)


def test_uploads_parts_without_data_fails_closed() -> None:
    body, ct = multipart([("other", None, None, b"x")])
    with pytest.raises(ExtractionError, match="uploads.parts"):
        A.extract(request("POST", "api.openai.com", "/v1/uploads/upload_77/parts", body, ct), body)


@pytest.mark.parametrize("field", ["image", "image[]", "mask"])
def test_images_edits_multipart_fields(field: str) -> None:
    png = xray_png()
    body, ct = multipart(
        [
            ("model", None, None, b"gpt-image-1"),
            (field, "a.png", "image/png", png),
            ("prompt", None, None, PHI_PROMPT.encode()),
        ]
    )
    env = A.extract(request("POST", "api.openai.com", "/v1/images/edits", body, ct), body)
    assert env.endpoint == "images.edits"
    assert [(p.media_type, p.locator.path[0]) for p in _files(env)] == [("image/png", field)]
    assert _texts(env) == [PHI_PROMPT, "a"]  # the file's name ("a.png") comes last
    assert [p.id for p in env.parts] == ["p0", "p1", "p2"] and env.parts[2].role == "filename"


def test_audio_transcription_file() -> None:
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64
    body, ct = multipart([("model", None, None, b"whisper-1"), ("file", "dictation.wav", "audio/wav", wav)])
    env = A.extract(request("POST", "api.openai.com", "/v1/audio/transcriptions", body, ct), body)
    assert len(_files(env)) == 1 and env.kind == "upload"


def test_threads_message_image_file_reference_and_text() -> None:
    body = json.dumps(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": PHI_PROMPT},
                {"type": "image_file", "image_file": {"file_id": "file-vision1", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.org/x.png"}},
            ],
            "attachments": [{"file_id": "file-doc2", "tools": [{"type": "file_search"}]}],
        }
    ).encode()
    env = A.extract(request("POST", "api.openai.com", "/v1/threads/thread_1/messages", body), body)
    assert env.endpoint == "threads.messages" and _texts(env) == [PHI_PROMPT]
    assert {"file_ref:file-vision1", "file_ref:file-doc2"} <= set(env.notes)
    assert [f.entity for f in env.adapter_findings] == ["REMOTE_REFERENCE"]


def test_moderation_image_url_data_url() -> None:
    body = json.dumps(
        {
            "model": "omni-moderation-latest",
            "input": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + B64_DCM}}],
        }
    ).encode()
    env = A.extract(request("POST", "api.openai.com", "/v1/moderations", body), body)
    assert [p.media_type for p in _files(env)] == ["application/dicom"]


def test_azure_deployment_path_with_api_version() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": PHI_PROMPT}]}).encode()
    r = request(
        "POST", "myres.openai.azure.com", "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21", body
    )
    env = A.extract(r, body)
    assert env.endpoint == "chat.completions" and _texts(env) == [PHI_PROMPT]


def test_conversation_items() -> None:
    body = json.dumps(
        {"items": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": PHI_PROMPT}]}]}
    ).encode()
    env = A.extract(request("POST", "api.openai.com", "/v1/conversations/conv_9/items", body), body)
    assert env.endpoint == "conversations.items" and _texts(env) == [PHI_PROMPT]
