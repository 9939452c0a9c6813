"""Every row of every adapter's matcher table is inspected: for each endpoint a request in that endpoint's shape,
carrying a patient's name and (where the endpoint takes files) a DICOM, is routed to that row and yields the text
and the DICOM as parts, so the detectors and the policy see them. A row added to a table without a sample here
fails `test_every_table_row_has_a_sample`, so docs/coverage.md's "every endpoint" rows stay true."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from phiwall.extractors import adapter_for
from phiwall.extractors import hostless_service
from phiwall.extractors import route
from phiwall.extractors.anthropic_api import ENDPOINTS as ANTHROPIC
from phiwall.extractors.chatgpt_web import ENDPOINTS as CHATGPT
from phiwall.extractors.claude_web import ENDPOINTS as CLAUDE
from phiwall.extractors.gemini_api import ENDPOINTS as GEMINI
from phiwall.extractors.gemini_web import ENDPOINTS as GEMINI_WEB
from phiwall.extractors.grok_web import GROK_ENDPOINTS
from phiwall.extractors.grok_web import X_ENDPOINTS
from phiwall.extractors.grpc import METHODS
from phiwall.extractors.openai_api import ENDPOINTS as OPENAI
from phiwall.extractors.websocket import PROTOCOLS
from phiwall.model import PartKind

from tests.support.samples import dicom_bytes
from tests.support.samples import multipart
from tests.support.samples import request

NAME = "Patient John Smith"
B64 = base64.b64encode(dicom_bytes()).decode()
DATA_URL = "data:image/png;base64," + B64


def _openai() -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": NAME}, {"type": "image_url", "image_url": {"url": DATA_URL}}],
            }
        ],
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_text", "text": NAME}, {"type": "input_image", "image_url": DATA_URL}],
            }
        ],
    }


def _anthropic_messages() -> dict[str, Any]:
    blocks = [
        {"type": "text", "text": NAME},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": B64}},
    ]
    return {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": blocks}]}


def _gemini() -> dict[str, Any]:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": NAME}, {"inlineData": {"mimeType": "image/png", "data": B64}}]}
        ]
    }


def _pb(num: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2)."""
    n, out = len(value), bytearray([(num << 3) | 2])
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out) + value


def _grpc_body(path: str) -> bytes:
    if path == "/xai_api.Files/UploadFile":
        msgs = [_pb(1, _pb(1, NAME.encode())), _pb(2, dicom_bytes()[:500]), _pb(2, dicom_bytes()[500:])]
    else:  # GetCompletionsRequest-like: messages=1 { content=1 { text=1 }, content=1 { image_url=2 { url=1 } } }
        msgs = [_pb(1, _pb(1, _pb(1, NAME.encode())) + _pb(1, _pb(2, _pb(1, DATA_URL.encode()))))]
    return b"".join(b"\x00" + len(m).to_bytes(4, "big") + m for m in msgs)


MP_FIELDS = ("file", "image", "data", "files[]", "input_reference", "video", "purpose")


def _multipart(field: str = "file") -> tuple[bytes, str]:
    return multipart([("prompt", None, None, NAME.encode()), (field, "scan.dcm", "application/dicom", dicom_bytes())])


# (table name, endpoint name, method, host, path, body kind, expects) — expects: t = text part with the name,
# f = a DICOM file part. Body kinds are built in `_body`.
SAMPLES: list[tuple[str, str, str, str, str, str, str]] = [
    # OpenAI API (and Azure / Gemini-compat prefixes, proven in test_openai_api.py::test_matcher_table)
    *[
        ("openai", name, "POST", "api.openai.com", path, "openai", "tf")
        for name, path in [
            ("chat.completions", "/v1/chat/completions"),
            ("responses.input_tokens", "/v1/responses/input_tokens"),
            ("responses.compact", "/v1/responses/compact"),
            ("responses", "/v1/responses"),
            ("conversations.items", "/v1/conversations/conv_1/items"),
            ("conversations", "/v1/conversations"),
            ("completions", "/openai/deployments/d1/completions"),
            ("embeddings", "/v1/embeddings"),
            ("moderations", "/v1/moderations"),
            ("images.generations", "/v1/images/generations"),
            ("audio.speech", "/v1/audio/speech"),
            ("assistants", "/v1/assistants"),
            ("threads.messages", "/v1/threads/thread_1/messages"),
            ("threads.runs.submit_tool_outputs", "/v1/threads/thread_1/runs/run_1/submit_tool_outputs"),
            ("threads.runs", "/v1/threads/thread_1/runs"),
            ("threads", "/v1/threads"),
            ("vector_stores", "/v1/vector_stores/vs_1/files"),
            ("batches", "/v1/batches"),
            ("uploads.create", "/v1/uploads"),
            ("uploads.complete", "/v1/uploads/upload_1/complete"),
            ("uploads.cancel", "/v1/uploads/upload_1/cancel"),
        ]
    ],
    *[
        ("openai", name, "POST", "api.openai.com", path, f"multipart:{field}", "tf")
        for name, path, field in [
            ("files.create", "/v1/files", "file"),
            ("uploads.parts", "/v1/uploads/upload_1/parts", "data"),
            ("images.edits", "/v1/images/edits", "image[]"),
            ("images.variations", "/v1/images/variations", "image"),
            ("audio.transcriptions", "/v1/audio/transcriptions", "file"),
            ("audio.translations", "/v1/audio/translations", "file"),
            ("containers.files", "/v1/containers/cntr_1/files", "file"),
            ("videos", "/v1/videos", "input_reference"),
            ("skills", "/v1/skills", "files[]"),
            ("content_provenance_checks", "/v1/content_provenance_checks", "file"),
        ]
    ],
    # Claude API, Bedrock, Google's Claude endpoint
    ("anthropic", "messages", "POST", "api.anthropic.com", "/v1/messages", "anthropic", "tf"),
    ("anthropic", "messages.count_tokens", "POST", "api.anthropic.com", "/v1/messages/count_tokens", "anthropic", "tf"),
    ("anthropic", "messages.batches", "POST", "api.anthropic.com", "/v1/messages/batches", "anthropic_batch", "tf"),
    ("anthropic", "complete", "POST", "api.anthropic.com", "/v1/complete", "anthropic_complete", "t"),
    ("anthropic", "files.create", "POST", "api.anthropic.com", "/v1/files", "multipart:file", "tf"),
    ("anthropic", "skills", "POST", "api.anthropic.com", "/v1/skills", "multipart:files[]", "tf"),
    ("anthropic", "sessions.events", "POST", "api.anthropic.com", "/v1/sessions/s1/events", "anthropic_events", "tf"),
    (
        "anthropic",
        "bedrock.invoke",
        "POST",
        "bedrock-runtime.us-east-1.amazonaws.com",
        "/model/m1/invoke",
        "anthropic",
        "tf",
    ),
    (
        "anthropic",
        "bedrock.converse",
        "POST",
        "bedrock-runtime.us-east-1.amazonaws.com",
        "/model/m1/converse",
        "converse",
        "tf",
    ),
    (
        "anthropic",
        "google.invoke",
        "POST",
        "claude.googleapis.com",
        "/v1/projects/p1/locations/global:invoke",
        "anthropic",
        "tf",
    ),
    # Gemini API and Vertex AI
    *[
        (
            "gemini",
            name,
            "POST",
            "generativelanguage.googleapis.com",
            f"/v1beta/models/gemini-2.5-flash:{verb}",
            kind,
            "tf",
        )
        for name, verb, kind in [
            ("generateContent", "generateContent", "gemini"),
            ("streamGenerateContent", "streamGenerateContent", "gemini"),
            ("countTokens", "countTokens", "gemini"),
            ("computeTokens", "computeTokens", "gemini"),
            ("batchGenerateContent", "batchGenerateContent", "gemini_batch"),
            ("embedContent", "embedContent", "gemini_embed"),
            ("predict", "predict", "gemini_predict"),
            ("rawPredict", "rawPredict", "gemini"),
        ]
    ],
    ("gemini", "cachedContents", "POST", "generativelanguage.googleapis.com", "/v1beta/cachedContents", "gemini", "tf"),
    (
        "gemini",
        "interactions",
        "POST",
        "generativelanguage.googleapis.com",
        "/v1beta/interactions",
        "interactions",
        "tf",
    ),
    ("gemini", "files.upload", "POST", "generativelanguage.googleapis.com", "/upload/v1beta/files", "goog_upload", "f"),
    (
        "gemini",
        "files.register",
        "POST",
        "generativelanguage.googleapis.com",
        "/v1beta/files:register",
        "register",
        "t",
    ),
    # Gemini web
    (
        "gemini_web",
        "StreamGenerate",
        "POST",
        "gemini.google.com",
        "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate",
        "sg",
        "tf",
    ),
    ("gemini_web", "batchexecute", "POST", "gemini.google.com", "/u/1/_/BardChatUi/data/batchexecute", "be", "tf"),
    # grok.com and Grok on X
    ("grok", "upload.v2", "POST", "grok.com", "/http/upload-file-v2/direct", "multipart:file", "tf"),
    ("grok", "upload.legacy", "POST", "grok.com", "/rest/app-chat/upload-file", "grok_legacy", "tf"),
    ("grok", "conversations.new", "POST", "grok.com", "/rest/app-chat/conversations/new", "grok_chat", "tf"),
    (
        "grok",
        "conversations.responses",
        "POST",
        "grok.com",
        "/rest/app-chat/conversations/c1/responses",
        "grok_chat",
        "tf",
    ),
    ("x", "grok.attachment", "POST", "x.com", "/i/api/2/grok/attachment.json", "multipart:image", "tf"),
    ("x", "grok.add_response", "POST", "api.x.com", "/2/grok/add_response.json", "x_add", "tf"),
    # claude.ai
    *[
        ("claude", name, "POST", "claude.ai", path, "multipart:file", "tf")
        for name, path in [
            ("wiggle.upload-file", "/api/organizations/o1/conversations/c1/wiggle/upload-file"),
            ("convert_document", "/api/convert_document"),
            ("upload", "/api/o1/upload"),
            ("filestore.createFile", "/v1/filestore/fs/createFile"),
        ]
    ],
    (
        "claude",
        "files.prepare-upload",
        "POST",
        "claude.ai",
        "/api/organizations/o1/conversations/c1/files/prepare-upload",
        "name_json",
        "t",
    ),
    (
        "claude",
        "completion",
        "POST",
        "claude.ai",
        "/api/organizations/o1/chat_conversations/c1/completion",
        "claude_completion",
        "tf",
    ),
    ("claude", "chat_conversations", "POST", "claude.ai", "/api/organizations/o1/chat_conversations", "name_json", "t"),
    # ChatGPT web
    ("chatgpt", "files.create", "POST", "chatgpt.com", "/backend-api/files", "chatgpt_register", "t"),
    ("chatgpt", "files.uploaded", "POST", "chatgpt.com", "/backend-api/files/file-abc123/uploaded", "name_json", "t"),
    (
        "chatgpt",
        "files.process_upload_stream",
        "POST",
        "chatgpt.com",
        "/backend-api/files/process_upload_stream",
        "name_json",
        "t",
    ),
    (
        "chatgpt",
        "conversation.prepare",
        "POST",
        "chatgpt.com",
        "/backend-anon/f/conversation/prepare",
        "chatgpt_conv",
        "tf",
    ),
    ("chatgpt", "conversation", "POST", "chatgpt.com", "/backend-api/f/conversation", "chatgpt_conv", "tf"),
    ("chatgpt", "codex.responses", "POST", "chatgpt.com", "/backend-api/codex/responses", "openai", "tf"),
    # gRPC (xai-sdk) and WebSockets: picked by request shape, not by a host's table
    *[("grpc", name, "POST", "api.x.ai", path, "grpc", "tf") for path, (name, _kind) in METHODS.items()],
    ("websocket", "ws.grok_gateway", "WS", "grok.com", "/ws/mgw/?uid=u1", "ws", "tf"),
    ("websocket", "ws.grok_imagine", "WS", "grok.com", "/ws/imagine/listen", "ws", "tf"),
    ("websocket", "ws.responses", "WS", "api.openai.com", "/v1/responses", "ws", "tf"),
    ("websocket", "ws.realtime", "WS", "api.openai.com", "/v1/realtime?model=m", "ws", "tf"),
    (
        "websocket",
        "ws.gemini_live",
        "WS",
        "generativelanguage.googleapis.com",
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
        "ws",
        "tf",
    ),
]

TABLES: dict[str, list[str]] = {
    "openai": [e.name for e in OPENAI],
    "anthropic": [e.name for e in ANTHROPIC],
    "gemini": [e.name for e in GEMINI],
    "gemini_web": [e.name for e in GEMINI_WEB],
    "grok": [e.name for e in GROK_ENDPOINTS],
    "x": [e.name for e in X_ENDPOINTS],
    "claude": [e.name for e in CLAUDE],
    "chatgpt": [row[0] for row in CHATGPT],
    "grpc": [name for name, _ in METHODS.values()],
    "websocket": [p[2] for p in PROTOCOLS],
}


def _body(kind: str) -> tuple[bytes, str, dict[str, str]]:
    """(body, content type, extra headers) for a body kind."""
    j = "application/json"
    if kind.startswith("multipart:"):
        body, ctype = _multipart(kind.split(":", 1)[1])
        return body, ctype, {}
    docs: dict[str, Any] = {
        "openai": _openai(),
        "anthropic": _anthropic_messages(),
        "anthropic_batch": {"requests": [{"custom_id": "r1", "params": _anthropic_messages()}]},
        "anthropic_complete": {"model": "m", "prompt": f"\n\nHuman: {NAME}\n\nAssistant:"},
        "anthropic_events": {
            "events": [{"type": "user.message", "content": _anthropic_messages()["messages"][0]["content"]}]
        },
        "converse": {
            "messages": [
                {"role": "user", "content": [{"text": NAME}, {"image": {"format": "png", "source": {"bytes": B64}}}]}
            ]
        },
        "gemini": _gemini(),
        "gemini_batch": {"requests": [{"model": "models/m", **_gemini()}]},
        "gemini_embed": {"content": _gemini()["contents"][0]},
        "gemini_predict": {"instances": [{"prompt": NAME, "image": {"bytesBase64Encoded": B64}}]},
        "interactions": {
            "model": "m",
            "input": [
                {
                    "type": "user_input",
                    "content": [
                        {"type": "text", "text": NAME},
                        {"type": "image", "data": B64, "mime_type": "image/png"},
                    ],
                }
            ],
        },
        "register": {"uris": ["gs://bucket/scan.dcm"], "displayName": NAME},
        "grok_legacy": {"fileName": NAME + ".png", "fileMimeType": "image/png", "content": B64},
        "grok_chat": {"modelName": "grok-3", "message": NAME, "imageAttachments": [], "extra": DATA_URL},
        "x_add": {"responses": [{"message": NAME, "sender": 1, "fileAttachments": []}], "image": DATA_URL},
        "name_json": {"name": NAME, "file_name": NAME + ".pdf"},
        "claude_completion": {"prompt": NAME, "attachments": [{"extracted_content": NAME}], "image": DATA_URL},
        "chatgpt_register": {"file_name": NAME + ".png", "file_size": 10, "use_case": "multimodal"},
        "chatgpt_conv": {
            "action": "next",
            "messages": [{"author": {"role": "user"}, "content": {"content_type": "text", "parts": [NAME, DATA_URL]}}],
            "partial_query": {"content": {"content_type": "text", "parts": [NAME]}},
        },
        "ws": {
            "type": "conversation.item.create",
            "item": {"content": [{"type": "input_text", "text": NAME}, {"type": "input_image", "image_url": DATA_URL}]},
        },
    }
    if kind in docs:
        return json.dumps(docs[kind]).encode(), j, {}
    if kind == "goog_upload":
        return dicom_bytes(), "application/x-www-form-urlencoded", {"x-goog-upload-command": "upload, finalize"}
    if kind == "sg":
        inner = [
            [NAME, 0, None, [[["/contrib_service/ttl_1d/abc", 1, None, "image/png"], "scan.png"]]],
            None,
            None,
            DATA_URL,
        ]
        return (
            urlencode({"f.req": json.dumps([None, json.dumps(inner)])}).encode(),
            "application/x-www-form-urlencoded",
            {},
        )
    if kind == "be":
        rpc = [[["kHv0Vd", json.dumps([[NAME, DATA_URL]]), None, "generic"]]]
        return urlencode({"f.req": json.dumps(rpc)}).encode(), "application/x-www-form-urlencoded", {}
    if kind == "grpc":
        return b"", "application/grpc", {}
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("table", "name", "method", "host", "path", "kind", "expects"), SAMPLES, ids=[f"{s[0]}:{s[1]}" for s in SAMPLES]
)
def test_every_table_row_is_inspected(
    table: str, name: str, method: str, host: str, path: str, kind: str, expects: str
) -> None:
    body, ctype, headers = _body(kind)
    if kind == "grpc":
        body = _grpc_body(path)
    req = request(method, host, path, body, ctype, tuple(headers.items()), websocket=method == "WS")
    if table == "grpc":
        service = hostless_service("grpc")
    elif table == "websocket":
        service = hostless_service("websocket")
    else:
        service = route(host)
    assert service is not None
    env = adapter_for(service).extract(req, body)
    assert env.endpoint in (name, "openai." + name, "rawPredict.anthropic"), (env.endpoint, name)
    texts = " ".join(p.text or "" for p in env.parts if p.kind == PartKind.TEXT)
    files = [p.media_type for p in env.parts if p.kind == PartKind.FILE]
    if "t" in expects:
        assert "John Smith" in texts, (name, texts[:200])
    if "f" in expects:
        assert "application/dicom" in files, (name, files)


def test_every_table_row_has_a_sample() -> None:
    sampled = {(t, n) for t, n, *_ in SAMPLES}
    missing = [f"{t}:{n}" for t, names in TABLES.items() for n in names if (t, n) not in sampled]
    assert not missing, f"matcher-table rows without a sample in this test: {missing}"
