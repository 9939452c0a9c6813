"""A known endpoint whose body no longer has the recorded shape fails closed with an ExtractionError that names
the endpoint, whichever helper found the problem (the adapter's own shape check, the strict base64 decoder, the
multipart parser, the gRPC framing): the on_error audit event then says which protocol changed."""

from __future__ import annotations

import json

import pytest
from phiwall.errors import ExtractionError
from phiwall.extractors import adapter_for
from phiwall.extractors import hostless_service
from phiwall.extractors import route

from tests.support.samples import request

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SG = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
CASES = [
    # (host, path, content type, body, endpoint the message must start with)
    ("api.openai.com", "/v1/chat/completions", JSON, {"messages": {"role": "user"}}, "chat.completions"),
    (
        "api.openai.com",
        "/v1/chat/completions",
        JSON,
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "a$b"}}]}]},
        "chat.completions",
    ),
    ("api.openai.com", "/v1/files", "multipart/form-data; boundary=zz", b"no boundary here", "files.create"),
    (
        "generativelanguage.googleapis.com",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        JSON,
        {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "abc$$"}}]}]},
        "generateContent",
    ),
    (
        "api.anthropic.com",
        "/v1/messages",
        JSON,
        {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "a$"}}]}]},
        "messages",
    ),
    (
        "api.anthropic.com",
        "/v1/messages",
        JSON,
        {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "s3"}}]}]},
        "messages",
    ),
    ("gemini.google.com", SG, FORM, b"f.req=%5Bnull%2C%22%7B%22%5D", "StreamGenerate"),
    ("gemini.google.com", SG, FORM, b"at=token-only", "StreamGenerate"),
    ("grok.com", "/rest/app-chat/upload-file", JSON, {"fileName": "scan.png", "content": "a$b"}, "upload.legacy"),
    ("grok.com", "/http/upload-file-v2/direct", "multipart/form-data; boundary=zz", b"--zz\r\nbroken", "upload.v2"),
    ("x.com", "/i/api/2/grok/add_response.json", "text/plain", {"responses": "hello"}, "grok.add_response"),
    ("claude.ai", "/api/organizations/o1/chat_conversations/c1/completion", JSON, {"prompt": 3}, "completion"),
    (
        "claude.ai",
        "/api/organizations/o1/conversations/c1/wiggle/upload-file",
        "multipart/form-data; boundary=zz",
        b"--zz\r\nbroken",
        "wiggle.upload-file",
    ),
    ("chatgpt.com", "/backend-api/f/conversation", JSON, b"{broken", "conversation"),
]


@pytest.mark.parametrize(
    ("host", "path", "ctype", "body", "endpoint"), CASES, ids=[f"{c[0]}{c[1][:40]}" for c in CASES]
)
def test_changed_shape_names_the_endpoint(host: str, path: str, ctype: str, body: object, endpoint: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    service = route(host)
    assert service is not None
    with pytest.raises(ExtractionError) as ei:
        adapter_for(service).extract(request("POST", host, path, raw, ctype), raw)
    assert str(ei.value).startswith(endpoint), str(ei.value)
    assert ei.value.endpoint == endpoint  # structured, for the audit event's `endpoint` field


def test_broken_grpc_frame_names_the_method() -> None:
    raw = b"\x00\x00\x00\x00\x10abc"  # declares 16 bytes, carries 3
    req = request("POST", "api.x.ai", "/xai_api.Chat/GetCompletion", raw, "application/grpc")
    with pytest.raises(ExtractionError, match=r"^chat\.get_completion: gRPC message at byte 0 is truncated") as ei:
        adapter_for(hostless_service("grpc")).extract(req, raw)
    assert ei.value.endpoint == "chat.get_completion"


def test_broken_openai_uploads_part_names_the_step() -> None:
    raw = b"--zz\r\nbroken"
    req = request("POST", "api.openai.com", "/v1/uploads/upload_abc/parts", raw, "multipart/form-data; boundary=zz")
    with pytest.raises(ExtractionError, match=r"^uploads\.parts: ") as ei:
        adapter_for(hostless_service("openai_uploads")).extract(req, raw)
    assert ei.value.endpoint == "uploads.parts"


# A JSON key the user chose, named after a patient, on the path to a value whose shape is broken. Error messages
# reach the audit event's `error` field: they may name the path, but only with such keys digested (safe_path).
PATIENT_KEY = "Jane Doe"
PATIENT_KEY_CASES = [
    # (host, path, body, endpoint, readable part of the path): a data URL, a strict base64 value, an Anthropic
    # content source of an unknown type, and a source whose data is not a string, each under the patient's key.
    (
        "api.openai.com",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {PATIENT_KEY: "data:;base64,a$"}},
        "chat.completions",
        "in a data URL at metadata.~",
    ),
    (
        "generativelanguage.googleapis.com",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"parts": [{PATIENT_KEY: {"inlineData": {"mimeType": "image/png", "data": "iVBOR$$"}}}]}]},
        "generateContent",
        "at contents.0.parts.0.~",
    ),
    (
        "generativelanguage.googleapis.com",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"parts": [{PATIENT_KEY: {"inlineData": {"mimeType": "image/png", "data": 5}}}]}]},
        "generateContent",
        "(contents.0.parts.0.~",
    ),
    (
        "api.anthropic.com",
        "/v1/messages",
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{PATIENT_KEY: {"type": "image", "source": {"type": "s3"}}}]}],
        },
        "messages",
        "unknown content source type at messages.0.content.0.~",
    ),
    (
        "api.anthropic.com",
        "/v1/messages",
        {
            "model": "m",
            "messages": [{"role": "user", "content": [{PATIENT_KEY: {"type": "image", "source": {"type": "base64"}}}]}],
        },
        "messages",
        "(messages.0.content.0.~",
    ),
]


@pytest.mark.parametrize(
    ("host", "path", "body", "endpoint", "readable"), PATIENT_KEY_CASES, ids=[c[4] for c in PATIENT_KEY_CASES]
)
def test_error_paths_digest_user_chosen_keys(host: str, path: str, body: object, endpoint: str, readable: str) -> None:
    raw = json.dumps(body).encode()
    service = route(host)
    assert service is not None
    with pytest.raises(ExtractionError) as ei:
        adapter_for(service).extract(request("POST", host, path, raw, "application/json"), raw)
    msg = str(ei.value)
    assert msg.startswith(endpoint + ":") and ei.value.endpoint == endpoint, msg
    assert readable in msg, msg  # schema keys and indexes stay readable, so the message still says where
    assert "Jane" not in msg and "Doe" not in msg, msg


def test_gemini_web_reference_note_digests_user_chosen_keys() -> None:
    """An unreadable file reference is noted with its path, and notes are audited: a user-chosen key there is
    digested too."""
    from urllib.parse import quote

    inner = [["a prompt"], {PATIENT_KEY: "/contrib_service/" + "x" * 400}]
    raw = ("f.req=" + quote(json.dumps([None, json.dumps(inner)]))).encode()
    env = adapter_for(route("gemini.google.com")).extract(request("POST", "gemini.google.com", SG, raw, FORM), raw)
    notes = [n for n in env.notes if n.startswith("file_ref:unreadable@")]
    assert notes and notes[0].startswith("file_ref:unreadable@f.req.1.1.~"), env.notes
    assert "Jane" not in " ".join(env.notes)
