"""claude.ai adapter: wiggle/convert_document/mobile uploads (multipart), completion `prompt`,
`attachments[].extracted_content`, `files[]` references, and changed shapes failing closed."""

from __future__ import annotations

import json

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors.claude_web import ClaudeWebAdapter
from phiwall.model import PartKind

from tests.support.samples import PHI_NOTE
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import multipart
from tests.support.samples import request

A = ClaudeWebAdapter()
ORG = "/api/organizations/0b7e-org"
DCM = dicom_bytes()


def _files(env):  # noqa: ANN001, ANN202
    return [p for p in env.parts if p.kind == PartKind.FILE]


def _texts(env):  # noqa: ANN001, ANN202
    return [p.text for p in env.parts if p.kind == PartKind.TEXT]


@pytest.mark.parametrize(
    "path,name",
    [
        (ORG + "/conversations/c-1/wiggle/upload-file", "wiggle.upload-file"),
        ("/api/convert_document", "convert_document"),
        ("/api/0b7e-org/upload", "upload"),
        ("/v1/filestore/fs/createFile", "filestore.createFile"),
    ],
)
def test_uploads(path: str, name: str) -> None:
    body, ct = multipart([("file", "ct.dcm", "application/dicom", DCM), ("orgUuid", None, None, b"0b7e-org")])
    env = A.extract(request("POST", "claude.ai", path, body, ct), body)
    assert env.endpoint == name and env.kind == "upload"
    assert [p.media_type for p in _files(env)] == ["application/dicom"]


def test_upload_not_multipart_fails_closed() -> None:
    with pytest.raises(ExtractionError, match="wiggle.upload-file"):
        A.extract(
            request("POST", "claude.ai", ORG + "/conversations/c/wiggle/upload-file", b'{"file": 1}'), b'{"file": 1}'
        )


@pytest.mark.parametrize("suffix", ["completion", "retry_completion"])
def test_completion_prompt_attachments_files(suffix: str) -> None:
    body = json.dumps(
        {
            "prompt": PHI_PROMPT,
            "model": "claude-sonnet-5",
            "timezone": "UTC",
            "locale": "en-US",
            "rendering_mode": "messages",
            "attachments": [
                {"file_name": "notes.csv", "file_type": "text/csv", "file_size": 2048, "extracted_content": PHI_NOTE}
            ],
            "files": ["5f1e-file-uuid"],
            "create_conversation_params": {"uuid": "c", "name": ""},
            "turn_message_uuids": {"human_message_uuid": "h", "assistant_message_uuid": "a"},
        }
    ).encode()
    env = A.extract(request("POST", "claude.ai", f"{ORG}/chat_conversations/c-1/{suffix}", body), body)
    assert env.endpoint == "completion"
    assert set(_texts(env)) == {PHI_PROMPT, PHI_NOTE, "notes"}
    assert "file_ref:5f1e-file-uuid" in env.notes
    note = next(p for p in env.parts if p.text == PHI_NOTE)
    assert note.locator.describe() == "json:attachments.0.extracted_content"


@pytest.mark.parametrize(
    "doc,what",
    [
        ([1, 2], "not a JSON object"),
        ({"prompt": ["moved"]}, "prompt"),
        ({"prompt": "x", "attachments": {"a": 1}}, "attachments is not a list"),
        ({"prompt": "x", "attachments": [{"extracted_content": {"t": 1}}]}, "extracted_content"),
    ],
)
def test_completion_changed_shape_fails_closed(doc: object, what: str) -> None:
    raw = json.dumps(doc).encode()
    with pytest.raises(ExtractionError, match=what) as ei:
        A.extract(request("POST", "claude.ai", f"{ORG}/chat_conversations/c/completion", raw), raw)
    assert "completion" in str(ei.value)


def test_unknown_path_generic() -> None:
    raw = json.dumps({"text": PHI_PROMPT}).encode()
    env = A.extract(request("POST", "claude.ai", "/api/some/new/thing", raw), raw)
    assert env.endpoint == "generic" and _texts(env) == [PHI_PROMPT]
