"""Anthropic adapter: the spec's §5.1 content blocks (image/document sources base64, text, content, url, file),
system as string or blocks, tool results, count_tokens, batches, legacy complete, files multipart, the Bedrock /
Foundry / Google Cloud paths, and changed shapes failing closed."""

from __future__ import annotations

import base64
import json

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors.anthropic_api import AnthropicAdapter
from phiwall.extractors.anthropic_api import classify
from phiwall.model import PartKind

from tests.support.samples import PHI_NOTE
from tests.support.samples import PHI_PROMPT
from tests.support.samples import dicom_bytes
from tests.support.samples import multipart
from tests.support.samples import request
from tests.support.samples import xray_png

A = AnthropicAdapter()
DCM = dicom_bytes()
B64_DCM = base64.b64encode(DCM).decode()


def _run(path: str, doc: object, host: str = "api.anthropic.com"):  # noqa: ANN202
    raw = json.dumps(doc).encode()
    return A.extract(request("POST", host, path, raw), raw)


def _files(env):  # noqa: ANN001, ANN202
    return [p for p in env.parts if p.kind == PartKind.FILE]


def _texts(env):  # noqa: ANN001, ANN202
    return [p.text for p in env.parts if p.kind == PartKind.TEXT]


@pytest.mark.parametrize(
    "path,name",
    [
        ("/v1/messages", "messages"),
        ("/v1/messages/count_tokens", "messages.count_tokens"),
        ("/v1/messages/batches", "messages.batches"),
        ("/v1/complete", "complete"),
        ("/v1/files", "files.create"),
        ("/anthropic/v1/messages", "messages"),
        ("/model/anthropic.claude-sonnet-4-v1:0/invoke", "bedrock.invoke"),
        ("/model/anthropic.claude-sonnet-4-v1:0/invoke-with-response-stream", "bedrock.invoke"),
        ("/model/anthropic.claude-sonnet-4-v1:0/converse", "bedrock.converse"),
        ("/v1alpha/projects/p/locations/us/workspaces/w/invoke", "google.invoke"),
    ],
)
def test_matcher_table(path: str, name: str) -> None:
    ep = classify("POST", path)
    assert ep is not None and ep.name == name


def test_spec_example_all_sources() -> None:
    png = base64.b64encode(xray_png()).decode()
    doc = {
        "model": "claude-opus-4-5",
        "max_tokens": 1024,
        "system": "You are a clinician assistant",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": PHI_PROMPT},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": B64_DCM},
                        "title": "Discharge summary",
                    },
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": PHI_NOTE}},
                    {
                        "type": "document",
                        "source": {"type": "content", "content": [{"type": "text", "text": "Chunk one"}]},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://example.org/scan.png"}},
                    {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}},
                ],
            }
        ],
    }
    env = _run("/v1/messages", doc)
    assert env.endpoint == "messages"
    assert set(_texts(env)) == {"You are a clinician assistant", PHI_PROMPT, "Discharge summary", PHI_NOTE, "Chunk one"}
    assert sorted(p.media_type for p in _files(env)) == ["application/dicom", "image/png"]
    assert [f.entity for f in env.adapter_findings] == ["REMOTE_REFERENCE"]
    assert "file_ref:file_011CNha8iCJcU1wXNR6q4V8w" in env.notes
    text_doc = next(p for p in env.parts if p.text == PHI_NOTE)
    assert text_doc.locator.describe() == "json:messages.0.content.3.source.data"  # text source is not base64


def test_system_blocks_and_tool_result_with_image() -> None:
    doc = {
        "model": "m",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "sys " + PHI_PROMPT}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [
                            {"type": "text", "text": "lab result"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64_DCM}},
                        ],
                    }
                ],
            }
        ],
    }
    env = _run("/v1/messages", doc)
    assert {"sys " + PHI_PROMPT, "lab result"} == set(_texts(env)) and len(_files(env)) == 1


def test_thinking_signature_is_not_content() -> None:
    sig = base64.b64encode(bytes(range(256))).decode()
    doc = {
        "model": "m",
        "max_tokens": 5,
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "hmm", "signature": sig}, {"type": "text", "text": "ok"}],
            }
        ],
    }
    assert _files(_run("/v1/messages", doc)) == []


def test_batches_params_and_count_tokens() -> None:
    env = _run(
        "/v1/messages/batches",
        {
            "requests": [
                {
                    "custom_id": "a",
                    "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": PHI_PROMPT}]},
                }
            ]
        },
    )
    assert _texts(env) == [PHI_PROMPT]
    env = _run(
        "/v1/messages/count_tokens",
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64_DCM}}
                    ],
                }
            ],
        },
    )
    assert len(_files(env)) == 1 and env.endpoint == "messages.count_tokens"


def test_legacy_complete() -> None:
    env = _run("/v1/complete", {"model": "claude-2", "prompt": "\n\nHuman: " + PHI_PROMPT + "\n\nAssistant:"})
    assert PHI_PROMPT in _texts(env)[0]


def test_files_multipart() -> None:
    body, ct = multipart([("file", "ct.dcm", "application/dicom", DCM)])
    env = A.extract(request("POST", "api.anthropic.com", "/v1/files?beta=true", body, ct), body)
    assert env.endpoint == "files.create" and _files(env)[0].media_type == "application/dicom"


def test_files_json_body_fails_closed() -> None:
    with pytest.raises(ExtractionError, match="files.create"):
        _run("/v1/files", {"file": B64_DCM})


@pytest.mark.parametrize(
    "doc,what",
    [
        ({"messages": "hi"}, "messages is not a list"),
        ({"messages": [{"role": "user", "content": 5}]}, "content is neither"),
        ({"messages": [], "system": 3}, "system is neither"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "hologram", "data": "x"}}]}
                ]
            },
            "unknown content source type",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "iVBOR%%%"}}]}
                ]
            },
            "broken base64",
        ),
    ],
)
def test_changed_shapes_fail_closed(doc: object, what: str) -> None:
    with pytest.raises(ExtractionError, match=what):
        _run("/v1/messages", doc)


def test_bedrock_invoke_and_converse() -> None:
    host = "bedrock-runtime.us-east-1.amazonaws.com"
    env = _run(
        "/model/anthropic.claude-sonnet-4-v1:0/invoke",
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": PHI_PROMPT}],
        },
        host,
    )
    assert env.endpoint == "bedrock.invoke" and _texts(env) == [PHI_PROMPT]
    env = _run(
        "/model/x/converse",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": PHI_PROMPT},
                        {"image": {"format": "png", "source": {"bytes": B64_DCM}}},
                        {"document": {"format": "pdf", "name": "doc", "source": {"s3Location": {"uri": "s3://b/k"}}}},
                    ],
                }
            ]
        },
        host,
    )
    assert _texts(env)[0] == PHI_PROMPT and len(_files(env)) == 1
    assert [f.tag for f in env.adapter_findings] == ["s3"]


def test_foundry_anthropic_and_openai_paths() -> None:
    host = "myres.services.ai.azure.com"
    env = _run(
        "/anthropic/v1/messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": PHI_PROMPT}]},
        host,
    )
    assert env.endpoint == "messages" and _texts(env) == [PHI_PROMPT]
    env = _run("/openai/v1/chat/completions", {"messages": [{"role": "user", "content": PHI_PROMPT}]}, host)
    assert env.endpoint == "openai.chat.completions" and _texts(env) == [PHI_PROMPT]


def test_unknown_path_goes_generic() -> None:
    env = _run("/v1/agents/new_feature", {"note": PHI_PROMPT})
    assert env.endpoint == "generic" and _texts(env) == [PHI_PROMPT]
